"""The standby member (issue #22) with vfbondd running, netlink backend: it carries the VM while no VF
is usable, and vfbondd brings traffic back onto a VF as soon as one qualifies. On veth both VFs lose
carrier; on sriov the VFs are live-migrated (both removed, back with their admin MACs under new
names), or the migration is aborted (one never comes back). Figures are printed for the report.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import NM_MANAGED, NM_VERSIONS, NetworkManagerLab, make_topology, run, wait_until
from sriov import MIGRATED_NAMES
from test_operator_actions import Daemon as OperatorDaemon
from vfbondd_lab import active

pytestmark = pytest.mark.lab
PAUSE_S = 3.0
ALERT_S = 15  # failover.vf_return_alert_s for the aborted migration; a slow emulated return takes 20 s


class Daemon(OperatorDaemon):
    members = 3


@pytest.fixture
def alert_s() -> int:
    return 120


@pytest.fixture
def backend() -> str:
    return "netlink"


@pytest.fixture
def lab(request: pytest.FixtureRequest, bonding: Path, lab_udev: None, tmp_path: Path,
        alert_s: int, backend: str) -> Iterator[Daemon]:
    """vfbondd with a standby over a fresh topology; with backend "nm", through a private
    NetworkManager that manages the real VFs (ens*) and the standby, as in the seed's deployment."""
    topo = make_topology(request.param).setup()
    # the newest lab NetworkManager: it has bond-port.prio (1.44+), which the standby's port gets
    nm = NetworkManagerLab(managed=(*NM_MANAGED, "ens*", topo.standby), version=NM_VERSIONS[-1]) \
        if backend == "nm" else None
    d = Daemon(topo, tmp_path)
    d.write_config(miimon=100, backend=backend, bond_extra=f'  standby: {{mac: "{topo.standby_mac}"}}\n')
    d.config.write_text(d.config.read_text().replace("failover: {fast: true}",
                                                     f"failover: {{fast: true, vf_return_alert_s: {alert_s}}}"))
    d.nm = nm  # type: ignore[attr-defined]
    try:
        if nm is not None:
            nm.start()
        d.start()
        wait_until(lambda: active() == topo.vf(0), 30, 0.1, lambda: f"{topo.vf(0)} active\n{d.log_tail()}")
        yield d
    finally:
        d.stop()
        if nm is not None:
            nm.close(keep_log_as=f"standby-{request.node.name}")
        topo.teardown()


def prio(name: str) -> Any:
    info = json.loads(run(["ip", "-d", "-j", "link", "show", name]).stdout)[0]
    return info.get("linkinfo", {}).get("info_slave_data", {}).get("prio")


def pinging(gw: str, seconds: float) -> subprocess.Popen[str]:
    """Pings of the gateway through the bond, 10 a second, with their times (-D)."""
    return subprocess.Popen(["ping", "-4", "-D", "-n", "-i", "0.1", "-W", "1", "-w", str(int(seconds)), "-I", "bond0",
                             gw], stdout=subprocess.PIPE, text=True)


def replies(ping: subprocess.Popen[str]) -> tuple[list[float], int]:
    """Reply times and the number of pings sent before the last reply that got none."""
    ping.terminate()
    out = ping.communicate()[0]
    got = re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from .* icmp_seq=(\d+)", out, re.M)
    seqs = [int(s) for _, s in got]
    lost = (max(seqs) - min(seqs) + 1 - len(set(seqs))) if seqs else -1
    return [float(t) for t, _ in got], lost


@pytest.mark.parametrize("lab", ["veth"], indirect=True)
def test_both_vfs_down_puts_the_bond_on_the_standby_and_the_first_vf_back_takes_it(lab: Daemon) -> None:
    topo = lab.topo
    assert prio(topo.standby) in (-1, None), "the standby's kernel priority is not the lowest"
    t0 = time.time()
    topo.cut_carrier(0)
    topo.cut_carrier(1)
    wait_until(lambda: active() == topo.standby, 10, 0.02, lambda: f"the standby active\n{lab.log_tail()}")
    on = lab.wait_event("on_standby", t0, 10)
    assert on["details"]["why"] == "down", on
    assert topo.ping_gateway(dev="bond0", deadline=10), "the gateway does not answer through the standby"
    assert lab.status()["standby"]["on_standby"] is True
    back = time.monotonic()
    topo.restore_carrier(1)
    wait_until(lambda: active() == topo.vf(1), 10, 0.005, lambda: f"{topo.vf(1)} active again\n{lab.log_tail()}")
    took = time.monotonic() - back
    off = lab.wait_event("off_standby", t0, 10)
    types = [e["type"] for e in lab.events_since(t0)]
    assert "bond_isolated" not in types, types
    assert lab.status()["standby"]["on_standby"] is False
    print(f"\nveth: standby prio {prio(topo.standby)}; {topo.vf(1)} active {took * 1000:.0f} ms after its carrier "
          f"was restored; {off['details']['on_standby_s']:.2f} s on the standby; events {types}")


class FirstCarrier(threading.Thread):
    """When `name` (a VF yet to come back) first has carrier, and when it is first the active slave."""

    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(daemon=True)
        self.name_, self.timeout = name, timeout
        self.carrier: float | None = None
        self.active: float | None = None

    def run(self) -> None:
        end = time.time() + self.timeout
        carrier = Path(f"/sys/class/net/{self.name_}/carrier")
        while time.time() < end and self.active is None:
            with contextlib.suppress(OSError):
                if self.carrier is None and carrier.read_text().strip() == "1":
                    self.carrier = time.time()
                if self.carrier is not None and active() == self.name_:
                    self.active = time.time()
            time.sleep(0.005)

    def summary(self, back: float) -> str:
        """Its carrier and its turn as active, as seen (the poll may miss a VF active before its carrier shows)."""
        if self.carrier is None or self.active is None:
            return f"carrier {'seen' if self.carrier else 'not seen'}, active {'seen' if self.active else 'not seen'}"
        return (f"active {self.active - self.carrier:.3f} s after its carrier came up "
                f"({self.carrier - back:.2f} s after it was back with its MAC)")


def lab_migration(lab: Daemon, **kw: Any) -> tuple[Any, subprocess.Popen[str], float]:
    topo = lab.topo
    assert topo.ping_gateway(dev="bond0", deadline=15)
    ping = pinging(topo.gw4, PAUSE_S + 60)
    time.sleep(1)
    t0 = time.time()
    return topo.migrate(PAUSE_S, **kw), ping, t0


@pytest.mark.parametrize("backend", ["netlink", "nm"])
@pytest.mark.parametrize("lab", ["sriov"], indirect=True)
def test_a_live_migration_runs_on_the_standby_and_returns_to_the_primary_under_its_new_name(lab: Daemon,
                                                                                            backend: str) -> None:
    topo = lab.topo
    assert lab.status()["daemon"]["backend"].startswith(f"backend: {backend}")
    if backend == "nm":  # the standby's port profile has the lowest priority, as the kernel's prio -1
        # read from NetworkManager 1.52's keyfile: the lab's nmcli is 1.42's, which has no bond-port.prio
        keyfile = next(f for f in lab.nm.keyfiles.iterdir()  # type: ignore[attr-defined]
                       if "id=bond0-standby\n" in f.read_text())
        profile = configparser.ConfigParser(interpolation=None)
        profile.read_string(keyfile.read_text())
        assert profile.get("bond-port", "prio", fallback=None) == "-1", keyfile.read_text()
    first = FirstCarrier(MIGRATED_NAMES[1], PAUSE_S + 60)  # VF 1 comes back first (reverse order)
    first.start()
    m, ping, t0 = lab_migration(lab, rename=True)
    try:
        attached = lab.wait_event("migration_attached", t0, 60)
        wait_until(lambda: active() == topo.vf(0), 30, 0.05,
                   lambda: f"the primary {topo.vf(0)} active\n{lab.log_tail()}")
        time.sleep(1)
    finally:
        times, lost = replies(ping)
    events = lab.events_since(t0)
    types = [e["type"] for e in events]
    off = next(e for e in events if e["type"] == "off_standby")
    on = next(e for e in events if e["type"] == "on_standby")
    assert "migration_detached" in types and on["details"]["why"] == "detached", types
    assert attached["details"]["renamed"] is True, attached
    assert {label: n["new"] for label, n in attached["details"]["names"].items()} == \
        {"sriov0": topo.vf(0), "sriov1": topo.vf(1)}, attached
    assert not {"bond_isolated", "vfs_not_returned"} & set(types), types
    during = [t for t in times if m.gone <= t <= m.attach]
    assert during, "no gateway reply through the standby while the VFs were gone"
    first_back = min(m.back.values())
    assert sorted(Path("/sys/class/net/bond0/bonding/slaves").read_text().split()) == \
        sorted([*MIGRATED_NAMES, topo.standby]), "bond0's members after the migration"
    print(f"\nsriov, {backend} backend, migrate({PAUSE_S}, rename=True): {lost} pings lost (10/s); "
          f"{len(during)} replies while the VFs "
          f"were gone; VFs gone {m.gone - m.detach:.2f} s after the detach; first VF back "
          f"{first_back - m.attach:.2f} s after the re-attach; on the standby {off['time'] - first_back:.2f} s "
          "after the first VF was back "
          f"({off['details']['on_standby_s']:.2f} s in all); {MIGRATED_NAMES[1]}: {first.summary(m.back[1])}; "
          f"migration_attached {attached['details']}; events {types}")


@pytest.mark.parametrize("alert_s", [ALERT_S])
@pytest.mark.parametrize("lab", ["sriov"], indirect=True)
def test_an_aborted_migration_alerts_naming_the_missing_mac(lab: Daemon) -> None:
    topo = lab.topo
    m, ping, t0 = lab_migration(lab, never_return=0)
    try:
        alert = lab.wait_event("vfs_not_returned", t0, ALERT_S + 30)
        assert alert["details"]["missing"] == [topo.mac(0)], alert
        assert active() == topo.vf(1), "the VF that came back does not carry the bond"
        late = topo.attach_vfs()
        lab.wait_event("migration_attached", t0, 60)
    finally:
        replies(ping)
    types = [e["type"] for e in lab.events_since(t0)]
    print(f"\nsriov aborted migration: alert {alert['time'] - t0:.1f} s after the detach began "
          f"(vf_return_alert_s {ALERT_S}); VF 0's late return {late.back_after(0):.2f} s; events {types}")
