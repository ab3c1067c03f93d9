"""Day0 on the seed's own path, in the same boot after test_systemd.py: NetworkManager runs as a service,
the seed's day0 nmcli lines built bond0 first, and the MIME user-data (boothook + cloud-config) that
`bondctl day0 render --mime` makes from the shipped config takes it over.

1. NetworkManager runs under systemd, managing the lab VFs. It is a transient unit running the
   image's NetworkManager binary and config: this boot masks NetworkManager.service so that
   test_systemd.py proves the unit without it, and a daemon-reload to lift the mask can take a
   minute on a loaded host.
2. The seed's nmcli lines build bond0 (mode=active-backup,miimon=1000,fail_over_mac=1), up by NM.
3. A new instance boots with the MIME user-data: cloud-init's init stage runs the boothook, which
   installs (already there from test_systemd.py: the install lines are idempotent), checks the config
   and starts vfbondd before the final stage; vfbondd's auto backend picks NetworkManager, adopts the
   seed's profiles (same uuids, none added) and sets the config's miimon 100 in place.
4. A carrier cut fails over through the NetworkManager-managed bond, and the journal has it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import SEED_BOND, SEED_PORTS, Topology, _bus_has, purge_bonds, run, wait_until
from day0_lab import ROOT, UNIT, USER_DATA, active_slave, first_boot, journal_events, show, unit_report

pytestmark = [
    pytest.mark.lab,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(os.environ.get("VFBOND_LAB_SYSTEMD") != "1" or not Path("/run/systemd/system").is_dir(),
                       reason="needs the systemd lab boot (lab/run-systemd.sh): systemd as PID 1"),
]

NM_UNIT = "vfbond-lab-nm.service"
NM_BUS = "org.freedesktop.NetworkManager"
# Into the image's /etc/NetworkManager/conf.d (the guest's /etc overlay): NM manages the lab's VFs and
# bond only, never the guest's own links.
NM_CONF = """\
[main]
no-auto-default=*
dns=none
rc-manager=unmanaged
[keyfile]
unmanaged-devices=*,except:interface-name:vf0,except:interface-name:vf1,except:interface-name:bond0
[connectivity]
enabled=false
"""


def nmcli(*args: str, timeout: float = 120) -> str:
    return run(["nmcli", *args], timeout=timeout).stdout


def profiles() -> dict[str, str]:
    """name -> uuid of every connection profile."""
    rows = (line.rsplit(":", 1) for line in nmcli("-t", "-f", "NAME,UUID", "connection", "show").splitlines())
    return {name: uuid for name, uuid in rows}


@pytest.fixture(scope="module")
def seeded(bonding: Path) -> Iterator[Topology]:
    """The lab VFs under a NetworkManager service, bond0 built by the seed's day0 nmcli lines."""
    purge_bonds()
    topo = Topology().setup()
    Path("/etc/NetworkManager/conf.d/99-vfbond-lab.conf").write_text(NM_CONF)
    t0 = time.monotonic()
    run(["systemd-run", f"--unit={NM_UNIT}", "-p", "Type=dbus", "-p", f"BusName={NM_BUS}",
         "/usr/sbin/NetworkManager", "--no-daemon"])
    try:
        wait_until(lambda: _bus_has(NM_BUS), 120, 0.5, f"NetworkManager on the bus ({NM_UNIT})")
        run(["nm-online", "-s", "-q", "--timeout=120"], timeout=130)
        print(f"NetworkManager {nmcli('-g', 'VERSION', 'general').strip()} up as {NM_UNIT} in "
              f"{time.monotonic() - t0:.1f}s")
        for vf in topo.vfs:  # Debian's udev rules leave veths unmanaged; real VFs are managed
            nmcli("device", "set", vf, "managed", "yes")
            run(["ip", "link", "set", vf, "up"])  # NM took them over as found (down: "unavailable")
        for vf in topo.vfs:
            wait_until(lambda vf=vf: int(nmcli("-g", "GENERAL.STATE", "device", "show", vf).split()[0]) >= 30, 60,
                       0.5, f"NetworkManager to see {vf} available (state disconnected or later)")
        nmcli(*SEED_BOND)
        for port in SEED_PORTS:
            nmcli(*port)
        nmcli("connection", "up", "bond0")
        wait_until(lambda: active_slave() in topo.vfs, 60, 0.5, "the seed's bond0 up with an active VF")
        yield topo
    finally:
        run(["systemctl", "stop", UNIT], check=False, timeout=180)
        run(["systemctl", "stop", NM_UNIT], check=False, timeout=60)
        purge_bonds()
        topo.teardown()


@pytest.fixture(scope="module")
def day0_mime(seeded: Topology, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A new instance given `bondctl day0 render --mime` of the shipped config; the seed's profiles first."""
    seed = profiles()
    assert {"bond0", "bond0-port1", "bond0-port2"} <= set(seed), seed
    config = tmp_path_factory.mktemp("day0") / "vfbond.yaml"
    config.write_text(yaml.safe_load(USER_DATA.read_text())["write_files"][0]["content"])
    user_data = run(["bondctl", "day0", "render", "--mime", "-c", str(config),
                     "--unit", str(ROOT / "units" / "vfbondd.service")]).stdout
    assert user_data.startswith("Content-Type: multipart/mixed") and "text/cloud-boothook" in user_data
    run(["systemctl", "stop", UNIT], timeout=180)  # test_systemd.py's vfbondd: this is a new VM

    def boothook_ran() -> None:
        sem = Path("/var/lib/cloud/instances/vfbond-lab-0002/sem/vfbond_day0_boothook")
        said = [line for line in Path("/var/log/cloud-init.log").read_text(errors="replace").splitlines()
                if any(w in line for w in ("oothook", "part-", "new instance", "instance-id", "WARNING", "Traceback"))]
        assert sem.exists(), "the boothook did not finish in cloud-init's init stage:\n" + "\n".join(said[-40:])
        wait_until(lambda: show("ActiveState")["ActiveState"] == "active", 180, 0.5,
                   f"vfbondd started by the boothook, before the final stage\n{unit_report()}")

    first_boot(user_data, "vfbond-lab-0002", after_init=boothook_ran)
    return seed


def test_the_boothook_started_vfbondd_which_adopted_the_seed_bond_through_networkmanager(
        seeded: Topology, day0_mime: dict[str, str]) -> None:
    status = json.loads(run(["/usr/local/bin/bondctl", "status", "--json"]).stdout)
    assert status["daemon"]["backend"] == f"auto: {NM_BUS} is on the system bus", status["daemon"]
    assert status["daemon"]["backend_version"].startswith("NetworkManager 1."), status["daemon"]

    def adopted() -> bool:
        bond = Path("/sys/class/net/bond0/bonding")
        return (bond / "miimon").read_text().strip() == "100" and \
            (bond / "fail_over_mac").read_text().split()[0] == "active"

    wait_until(adopted, 120, 1, f"bond0 at the config's miimon 100 with fail_over_mac active\n{unit_report()}")
    after = profiles()
    assert {k: v for k, v in after.items() if k.startswith("bond0")} == \
        {k: v for k, v in day0_mime.items() if k.startswith("bond0")}, "the seed's profiles were replaced or added to"
    assert nmcli("-g", "bond.options", "connection", "show", "bond0").count("miimon=100") == 1
    assert sorted(Path("/sys/class/net/bond0/bonding/slaves").read_text().split()) == ["vf0", "vf1"]
    assert seeded.ping_gateway(), "gateway unreachable through the adopted bond"


def test_carrier_cut_fails_over_under_networkmanager(seeded: Topology, day0_mime: dict[str, str]) -> None:
    before = active_slave()
    i = seeded.vfs.index(before)
    other = seeded.vf(1 - i)
    t0 = time.time()
    seeded.cut_carrier(i)
    try:
        wait_until(lambda: active_slave() == other, 10, 0.05, f"{other} to become active")
        event = wait_until(lambda: next((e for e in journal_events(t0) if e["EVENT_TYPE"] == "failover"), None),
                           30, 0.5, f"a failover event in journalctl -u {UNIT}")
        assert (event["OLD_ACTIVE"], event["NEW_ACTIVE"]) == (before, other), event
        assert seeded.ping_gateway(), "gateway unreachable after the failover"
    finally:
        seeded.restore_carrier(i)
