"""Live migration side by side (issue #22), run by bench/run.sh (`-k migration`) in one lab boot on real
igbvf VFs: the host removes both VFs, 3 s on the paravirtual standby, VFs with the same admin MACs
back under new names in reverse order (SriovTopology.migrate). Three columns, interleaved trial by
trial with their order rotated:
  kernel    bond0 built with plain `ip link` (active-backup, miimon 100, fail_over_mac active,
            primary VF 0, the standby at slave prio -1 where the kernel takes it); nothing else runs,
            so nothing enslaves a VF that returns as a new netdev;
  nm        the seed's day0 nmcli bond (conftest.SEED_BOND) with its ports bound by interface name,
            plus a third port profile for the standby, under a private NetworkManager alone;
  vfbondd   vfbondd, netlink backend, miimon 100, `bond.standby: {mac: ...}`.
Each trial starts from nothing: the VFs re-created under their first names (topology setup), the
column's bond built (NetworkManager or vfbondd started for the trial, stopped after it), VF 0 active.
The figures come from the kernel's side (migration_figures.py): no Python poll times anything.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import SEED_BOND, SEED_PORTS, NetworkManagerLab, ip_batch, run, wait_until
from migration_figures import Trial, migration_times, parse_ping, table
from sriov import VF_NAMES, Migration, SriovTopology
from test_standby import Daemon, prio
from timeline import Timeline

TRIALS = int(os.environ.get("VFBOND_BENCH_MIGRATION_TRIALS", "10"))
ORDER = ("kernel", "nm", "vfbondd")
PAUSE_S = 3.0  # on the standby between the detach and the re-attach
WINDOW_S = 30.0  # a VF not active this long after the first returned VF's carrier is never back
PINGS_PER_S = 100  # the rate: a lost ping is 10 ms of outage
RECORDERS_S = 2.0  # the recorders are listening (a process start costs 0.1-0.5 s under emulation)
AFTER_S = 1.0  # recording goes on this long after the primary is active again
POLL_S = 0.2  # control flow only (when to stop a trial), never a figure
SHOWN = ("lost", "standby_reply", "origin", "back_on_vf", "back_on_primary", "vf_reply", "standby_prio", "events")
# per trial: a topology rebuild, a NetworkManager or vfbondd start, the migration, up to 2 x WINDOW_S
pytestmark = [pytest.mark.bench, pytest.mark.timeout(600 + 200 * len(ORDER) * TRIALS)]


def bond_file(name: str) -> str:
    return Path(f"/sys/class/net/bond0/bonding/{name}").read_text().strip()


class Column:
    """One column: how it builds bond0 for a trial and lets it go after."""

    name = ""

    def __init__(self, topo: SriovTopology) -> None:
        self.topo = topo

    def build(self) -> None:
        raise NotImplementedError

    def prefer_vf0(self) -> bool:
        """VF 0 the active slave; the columns with a primary get there by themselves."""
        return bond_file("active_slave") == self.topo.vf(0)

    def after(self, since: float) -> dict[str, Any]:
        return {"standby_prio": prio(self.topo.standby)}

    def stop(self) -> None:
        """Nothing runs for the kernel column: the next topology setup deletes the bond."""

    def close(self, results: Path) -> None:
        self.stop()

    def log_tail(self) -> str:
        return ""


class KernelBond(Column):
    name = "kernel"

    def build(self) -> None:
        t = self.topo
        ip_batch(["link add bond0 type bond mode active-backup miimon 100 fail_over_mac active",
                  *[f"link set {n} master bond0" for n in (*t.vfs, t.standby)],
                  f"link set bond0 type bond primary {t.vf(0)}",
                  f"addr add {t.host4}/{t.gw4_prefix} dev bond0", "link set bond0 up"])
        # per-slave prio is kernel 6.0+; the standby is then never chosen while a VF is up
        run(["ip", "link", "set", t.standby, "type", "bond_slave", "prio", "-1"], check=False)


def seed_port(n: int, ifname: str) -> list[str]:
    """The seed's nmcli port line for port n, bound to `ifname` as the seed binds its ports."""
    argv = list(SEED_PORTS[0])
    argv[argv.index("con-name") + 1] = f"bond0-port{n}"
    argv[argv.index("ifname") + 1] = ifname
    return argv


class NMBond(Column):
    name = "nm"

    def __init__(self, topo: SriovTopology) -> None:
        super().__init__(topo)
        self.nm = NetworkManagerLab(managed=("vf*", "bond*", "ens*", topo.standby))
        self.profiles = False

    def build(self) -> None:
        """NetworkManager started for the trial: the first time the seed's nmcli lines make the
        profiles; after that NetworkManager brings them up by itself, as at a boot."""
        self.nm.restart()
        if not self.profiles:
            t = self.topo
            for argv in (SEED_BOND, seed_port(1, t.vf(0)), seed_port(2, t.vf(1)), seed_port(3, t.standby)):
                self.nm.nmcli(*argv)
            self.nm.nmcli("connection", "up", "bond0", timeout=120)
            self.profiles = True

    def prefer_vf0(self) -> bool:
        """The seed's bond has no primary: VF 0 made active by hand, once bonding has its link up."""
        if bond_file("active_slave") != self.topo.vf(0):
            Path("/sys/class/net/bond0/bonding/active_slave").write_text(self.topo.vf(0))
        return super().prefer_vf0()

    def stop(self) -> None:
        self.nm.stop()  # NetworkManager leaves the bond as it is; the next setup deletes it

    def close(self, results: Path) -> None:
        self.nm.close(keep_log_as="bench-migration")

    def log_tail(self) -> str:
        return self.nm.log_tail()


class VfbonddBond(Column):
    name = "vfbondd"

    def __init__(self, topo: SriovTopology, workdir: Path) -> None:
        super().__init__(topo)
        self.d = Daemon(topo, workdir)  # three members: both VFs and the standby
        self.d.write_config(miimon=100, bond_extra=f'  standby: {{mac: "{topo.standby_mac}"}}\n')

    def build(self) -> None:
        self.d.start()

    def after(self, since: float) -> dict[str, Any]:
        return {**super().after(since), "events": self.d.types(since)}

    def stop(self) -> None:
        self.d.stop()

    def close(self, results: Path) -> None:
        self.stop()
        if self.d.log.exists():
            shutil.copy(self.d.log, results / "vfbondd-bench-migration.log")

    def log_tail(self) -> str:
        return self.d.log_tail()


def start_state(topo: SriovTopology, col: Column) -> None:
    """bond0 over both VFs (first names) and the standby, both VFs up, VF 0 active, the gateway answering."""
    want = {*topo.vfs, topo.standby}
    wait_until(lambda: set(bond_file("slaves").split()) == want, 120, 0.2,
               lambda: f"{col.name}: bond0 over {sorted(want)}\n{col.log_tail()}")
    wait_until(lambda: topo.carrier(0) and topo.carrier(1), topo.carrier_back_s, 0.2, f"{col.name}: both VFs up")
    wait_until(col.prefer_vf0, 30, 0.3, lambda: f"{col.name}: {topo.vf(0)} active\n{col.log_tail()}")
    assert topo.ping_gateway(dev="bond0", deadline=15), f"{col.name}: the gateway does not answer through bond0"


def settle(topo: SriovTopology, m: Migration) -> None:
    """When to end the trial (control flow only; the figures come from the recordings): the primary
    VF (its new name) active, or WINDOW_S after a returned VF first has carrier, or after the first
    VF's return where nothing brings a VF up."""
    deadline = min(m.back.values()) + WINDOW_S
    carrier = False
    while time.time() < deadline:
        try:
            if bond_file("active_slave") == topo.vf(0):
                return
        except OSError:
            pass  # bond0 gone: the column failed; the figures will say so
        if not carrier and any(topo.carrier(i) for i in range(len(topo.vfs))):
            carrier, deadline = True, time.time() + WINDOW_S
        time.sleep(POLL_S)


def recorders(topo: SriovTopology, raw: Path) -> Timeline:
    """Link messages in the guest, packets on the standby and on the VFs' switch ports (stable for the
    whole trial, unlike the VFs' netdevs)."""
    tl = Timeline(raw)
    tl.monitor(None)
    tl.capture(topo.standby)
    for sw in topo.sws:
        tl.capture(sw, topo.ns)
    return tl


def trial(topo: SriovTopology, col: Column, raw: Path) -> dict[str, Any]:
    """One migration under `col`'s bond, from the start state; its row of figures."""
    topo.vfs = list(VF_NAMES)  # the last trial left them under the migrated names: setup re-creates them
    topo.setup()
    try:
        col.build()
        start_state(topo, col)
        raw.mkdir(parents=True, exist_ok=True)
        tl = recorders(topo, raw)
        with (raw / "ping.txt").open("w") as out, (raw / "ping.err").open("w") as err:  # a file: a pipe fills
            ping = subprocess.Popen(["ping", "-4", "-D", "-n", "-i", str(1 / PINGS_PER_S), "-W", "1", "-w", "300",
                                     "-I", "bond0", topo.gw4], stdout=out, stderr=err)
        try:
            time.sleep(RECORDERS_S)
            since = time.time()
            m = topo.migrate(PAUSE_S, rename=True)
            settle(topo, m)
            time.sleep(AFTER_S)
        finally:
            ping.send_signal(signal.SIGINT)  # ping prints its summary on SIGINT
            ping.wait(30)
            until = time.time()
            tl.close()
        extra = col.after(since)
    finally:
        col.stop()
    figures = migration_times(tl.links(), tl.packets(), Trial(
        since=since, until=until, old=VF_NAMES, new=tuple(topo.vfs), standby=topo.standby, vf_ports=tuple(topo.sws),
        vf_macs=topo.macs, gw4=topo.gw4, window_s=WINDOW_S))
    pings = parse_ping((raw / "ping.txt").read_text())
    return {"column": col.name, "since": since, "until": until, **figures, "lost": pings.lost,
            "replies": len(pings.replies), **extra,
            "migration": {"detach": m.detach, "gone": m.gone, "attach": m.attach, "back": m.back, "names": m.names}}


def test_live_migration_side_by_side(bonding: Path, tmp_path: Path) -> None:
    results = Path(os.environ.get("VFBOND_LAB_RESULTS") or tmp_path)
    topo = SriovTopology()  # each trial sets it up
    columns: dict[str, Column] = {c.name: c for c in (KernelBond(topo), NMBond(topo), VfbonddBond(topo, tmp_path))}
    rows: list[dict[str, Any]] = []
    try:
        for k in range(TRIALS):
            for pos, name in enumerate(ORDER[k % len(ORDER):] + ORDER[:k % len(ORDER)]):
                raw = results / "timeline-migration" / f"{k:02d}-{name}"
                rows.append({"trial": k, "position": pos, **trial(topo, columns[name], raw)})
                print(f"\ntrial {k} {name}: {json.dumps({x: rows[-1].get(x) for x in SHOWN})}")
                (results / "bench-migration.json").write_text(json.dumps(rows, indent=1))  # kept if a later one fails
    finally:
        for col in columns.values():
            col.close(results)
        topo.teardown()
    text = table(rows, PINGS_PER_S)
    print("\n" + text)
    (results / "bench-migration.md").write_text(text + "\n")
    unseen = [(r["column"], r["trial"]) for r in rows if r.get("detach") is None or r.get("standby_reply") is None]
    assert not unseen, f"trials (column, trial) without the detach or a gateway reply through the standby: {unseen}"
    stayed = [r["trial"] for r in rows if r["column"] == "vfbondd" and r.get("back_on_vf") is None]
    assert not stayed, f"vfbondd trials with no VF active within {WINDOW_S:.0f} s of the first VF's carrier: {stayed}"
