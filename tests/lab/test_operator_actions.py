"""What operators do by hand while vfbondd runs (issue #19): each must end converged, with one
honest event, never a fight. TESTING.md's fault table has a row for each, with the times printed
here (`converged in X s`).
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ip_batch, make_topology, run, wait_ping, wait_until
from kernel_log import KernelLog
from sriov import SriovTopology
from vfbondd_lab import BIN, LabDaemon, active, vfbondd_failed_over

from vfbond.shared import exitcodes
from vfbond.shared.protocol import request

pytestmark = pytest.mark.lab

MAC2 = "fa:16:3e:00:00:03"
MOVES = ("failover", "failback")


class Daemon(LabDaemon):
    def request(self, cmd: str, args: dict[str, Any] | None = None) -> Any:
        return request(self.socket, cmd, args, timeout=300)

    def slaves(self) -> list[str]:
        bond = self.status()["bond"]
        return sorted(s["link"]["name"] for s in bond["slaves"]) if bond else []


@pytest.fixture(params=["veth"])
def lab(request: pytest.FixtureRequest, bonding: Path, lab_udev: None, tmp_path: Path) -> Iterator[Daemon]:
    topo = make_topology(request.param).setup()
    d = Daemon(topo, tmp_path)
    d.write_config()
    try:
        yield d
    finally:
        d.stop()
        run("ip link del vf2", check=False)
        topo.teardown()


def converged_after(d: Daemon, t0: float, what: str) -> dict[str, Any]:
    ev = d.wait_event("converged", t0)
    print(f"{d.topo.kind}: {what}: converged in {ev['time'] - t0:.2f} s ({ev['reason']})")
    return ev


@pytest.mark.parametrize("lab", ["veth", "sriov"], indirect=True)
def test_a_bond_deleted_by_hand_is_rebuilt_with_one_converged_event(lab: Daemon) -> None:
    lab.start()
    t0 = time.time()
    run("ip link del bond0")
    ev = converged_after(lab, t0, "ip link del bond0")
    # why: the first reading that saw it (its addresses leave before the bond does); what: the bond made again
    assert "bond: None -> 'bond0'" in ev["reason"]
    wait_until(lambda: lab.slaves() == sorted(lab.topo.vfs) and lab.status()["bond"]["active_slave"], 60, 0.3,
               lambda: f"bond0 rebuilt over both VFs\n{lab.log_tail()}")
    assert asyncio.run(wait_ping(lab.topo)), "gateway unreachable after the rebuild"
    time.sleep(2)  # one repair, not a fight: no second convergence
    assert lab.types(t0).count("converged") == 1, lab.events_since(t0)


def test_a_bond_set_down_an_option_changed_and_a_slave_released_by_hand_are_put_back(lab: Daemon) -> None:
    lab.start()
    for action, check in (
            ("ip link set bond0 down", lambda: int(Path("/sys/class/net/bond0/flags").read_text(), 16) & 1 == 1),
            ("ip link set bond0 type bond miimon 5000",
             lambda: Path("/sys/class/net/bond0/bonding/miimon").read_text().strip() == "1000"),
            (f"ip link set {lab.topo.vf(1)} nomaster", lambda: lab.slaves() == sorted(lab.topo.vfs))):
        t0 = time.time()
        run(action)
        wait_until(check, 60, 0.3, lambda action=action: f"vfbondd to undo `{action}`\n{lab.log_tail()}")
        took = time.time() - t0
        # the event follows the read-back that verified the repair
        wait_until(lambda t0=t0: {"converged", "slave_returned"} & set(lab.types(t0)), 15, 0.2,
                   lambda: f"one event saying what vfbondd put back\n{lab.log_tail()}")
        told = [t for t in lab.types(t0) if t in ("converged", "slave_returned")]
        print(f"veth: {action}: put back in {took:.2f} s; events {lab.types(t0)}")
        assert len(told) == 1, lab.events_since(t0)
    assert Path("/sys/class/net/bond0/operstate").read_text().strip() == "up"


def test_pause_holds_off_convergence_and_resume_repairs_what_drifted(lab: Daemon) -> None:
    lab.start()
    t0 = time.time()
    lab.bondctl("pause", "--reason", "replacing miimon by hand", "--for", "10m")
    assert lab.status()["reconcile"]["paused"]["reason"] == "replacing miimon by hand"
    run("ip link set bond0 type bond miimon 5000")
    time.sleep(3)
    assert Path("/sys/class/net/bond0/bonding/miimon").read_text().strip() == "5000", "converged while paused"
    assert "converged" not in lab.types(t0)
    lab.bondctl("resume")
    wait_until(lambda: Path("/sys/class/net/bond0/bonding/miimon").read_text().strip() == "1000", 30, 0.3,
               lambda: f"the resume to repair miimon\n{lab.log_tail()}")
    lab.wait_event("converged", t0, timeout=15)  # the event follows the read-back that verified it
    assert [t for t in lab.types(t0) if t in ("paused", "resumed", "converged")] == ["paused", "resumed", "converged"]


def add_third_vf(lab: Daemon) -> str:
    """As when Nova gives the VM a new port in place of the old one: a third VF, with a MAC of its
    own. On igbvf it is PF 1's second VF, whose creation takes PF 1's first one away for a moment:
    vfbondd re-enslaves that one before the test goes on."""
    topo = lab.topo
    if isinstance(topo, SriovTopology):
        t0 = time.time()
        name = topo.add_second_vf(1, MAC2, "ens9")
        lab.wait_event("slave_returned", t0)
        wait_until(lambda: lab.slaves() == sorted(topo.vfs), 30, 0.2, f"{topo.vf(1)} back in bond0")
        return name
    ip_batch([f"link add vf2 address {MAC2} type veth peer name sw2 netns {topo.ns}"])
    ip_batch([f"link set sw2 master {topo.bridge}", "link set sw2 up"], ns=topo.ns)
    run(["udevadm", "settle", "--timeout=30"], check=False, timeout=40)
    return "vf2"


@pytest.mark.parametrize("lab", ["veth", "sriov"], indirect=True)
def test_a_reload_replacing_a_vf_succeeds_and_the_released_vf_stays_out(lab: Daemon) -> None:
    lab.start()
    new = add_third_vf(lab)
    lab.config.write_text(lab.config.read_text().replace(lab.topo.mac(1), MAC2))
    t0 = time.time()
    answer = lab.reload()
    print(f"{lab.topo.kind}: reload replacing sriov1's MAC: answered in {time.time() - t0:.2f} s")
    assert answer["reloaded"]
    time.sleep(3)  # the supervisor must not take the released VF back
    assert lab.slaves() == sorted([lab.topo.vf(0), new]), lab.events_since(t0)
    assert "converged" not in lab.types(t0)
    assert asyncio.run(wait_ping(lab.topo)), "gateway unreachable after the replacement"


def test_a_reload_moving_the_primary_is_one_move(lab: Daemon) -> None:
    lab.start()
    assert active() == lab.topo.vf(0)
    lab.config.write_text(lab.config.read_text().replace("primary: sriov0", "primary: sriov1"))
    t0 = time.time()
    lab.reload()
    wait_until(lambda: active() == lab.topo.vf(1), 30, 0.2, "the new primary active")
    time.sleep(3)
    moves = [(e["type"], e["new_active"]) for e in lab.events_since(t0) if e["type"] in MOVES]
    assert moves == [("failback", lab.topo.vf(1))], lab.events_since(t0)
    assert active() == lab.topo.vf(1)


def test_two_reloads_at_once_take_turns_and_both_are_answered(lab: Daemon) -> None:
    lab.start()
    lab.config.write_text(lab.config.read_text().replace("miimon: 1000", "miimon: 200"))
    answers: list[Any] = []

    def reload() -> None:
        try:
            answers.append(lab.reload())
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            answers.append(exc)

    t0 = time.time()
    threads = [threading.Thread(target=reload) for _ in range(2)]
    assert lab.proc is not None
    for t in threads:
        t.start()
    lab.proc.send_signal(1)  # SIGHUP: a third at the same moment
    for t in threads:
        t.join(300)
    assert all(isinstance(a, dict) and a["reloaded"] for a in answers), answers
    time.sleep(2)
    assert Path("/sys/class/net/bond0/bonding/miimon").read_text().strip() == "200"
    types = lab.types(t0)
    assert "warning" not in types and types.count("converged") == 0, lab.events_since(t0)


@pytest.mark.parametrize("lab", ["veth", "sriov"], indirect=True)
def test_late_carriers_after_the_start_deadline_are_reported_as_at_any_other_time(lab: Daemon) -> None:
    for i in (0, 1):
        lab.topo.cut_carrier(i)
    lab.start_nowait()  # not start(): it waits for the bond to be up
    wait_until(lambda: not lab.status()["starting"], 60, 1, lambda: f"the start phase to end\n{lab.log_tail()}")
    t0 = time.time()
    lab.topo.restore_carrier(0)
    wait_until(lambda: "failover" in lab.types(t0), 60, 0.3, lambda: f"vf0's late carrier reported\n{lab.log_tail()}")
    t1 = time.time()
    lab.topo.cut_carrier(0)
    wait_until(lambda: "bond_isolated" in lab.types(t1), 60, 0.3, lambda: f"vf0's loss reported\n{lab.log_tail()}")


def test_a_carrier_loss_while_a_reload_applies_is_still_failed_over_by_vfbondd(lab: Daemon) -> None:
    """The one selection decision allowed while an apply runs: a reload that changes only miimon is
    held inside its apply by the test hook (the kernel has the new miimon, the read-back is to come),
    and the active VF loses carrier then. vfbondd moves the bond on the event (the armed request
    stands down while an apply runs; the locked path takes it), before the kernel's MII poll."""
    lab.write_config(miimon=5000)
    lab.start(env={"VFBOND_TEST_HOOKS": "1"})
    lab.request("test-fault", {"fault": "pause-apply", "at": "applied"})
    lab.write_config(miimon=4000)
    reload = subprocess.Popen([BIN / "bondctl", "reload", "--socket", lab.socket],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: "apply paused by the test hook: applied" in lab.log.read_text(), 60, 0.2,
                   lambda: f"the reload's apply paused\n{lab.log_tail()}")
        assert lab.status()["reconcile"]["applying"], lab.status()["reconcile"]
        klog, t0 = KernelLog(), time.time()
        lab.topo.cut_carrier(0)
        move = vfbondd_failed_over(lab, t0, klog, "vf0", "vf1")
        print(f"veth: carrier loss while a reload applies: {move['reason']}")
    finally:
        lab.request("test-fault", {"fault": "resume"})
        out, err = reload.communicate(timeout=120)
    assert reload.returncode == 0, out + err
    assert Path("/sys/class/net/bond0/bonding/miimon").read_text().strip() == "4000"
    assert [t for t in lab.types(t0) if t in MOVES] == ["failover"], lab.events_since(t0)
    lab.topo.restore_carrier(0)


def test_a_carrier_loss_while_vfbondd_reads_the_bond_is_taken_by_the_armed_switch(lab: Daemon) -> None:
    """#19: the fast path is armed during reads. A read of the bond is held open by the test hook (the
    executor's lock with it) and the active VF loses carrier: the armed request goes out anyway, and
    the bond is on vf1 while that read still holds the lock, before the kernel's MII poll (miimon 5000).
    Standing down during reads, only the kernel's poll could have moved it then."""
    lab.write_config(miimon=5000)
    lab.start(env={"VFBOND_TEST_HOOKS": "1"})
    lab.request("test-fault", {"fault": "pause-read"})
    run("ip link set dev vf1 alias held-read")  # a link event: the supervisor reads the bond
    try:
        wait_until(lambda: "read of the bond paused by the test hook" in lab.log.read_text(), 30, 0.1,
                   lambda: f"a read of the bond held\n{lab.log_tail()}")
        klog, t0 = KernelLog(), time.time()
        lab.topo.cut_carrier(0)
        wait_until(lambda: active() == "vf1", 3, 0.05,
                   lambda: f"vf1 active while the read holds the lock\n{lab.log_tail()}")
    finally:
        lab.request("test-fault", {"fault": "resume"})
        run("ip link set dev vf1 alias ''", check=False)
    move = vfbondd_failed_over(lab, t0, klog, "vf0", "vf1")
    print(f"veth: carrier loss during a held read: {move['reason']}")
    assert [t for t in lab.types(t0) if t in MOVES] == ["failover"], lab.events_since(t0)
    lab.topo.restore_carrier(0)


@pytest.mark.parametrize("lab", ["sriov"], indirect=True)
def test_the_event_loop_is_not_held_by_an_igbvf_pf_reset_failover(lab: Daemon) -> None:
    """A PF reset holds RTNL for about a second: the host's `ip link set PF down` itself, then the
    bond's switch (bonding flushes the old VF's filters through the resetting PF's mailbox). vfbondd
    reads and writes the kernel meanwhile (the failover, the reads after it, a reload's whole apply);
    they wait for RTNL, its loop (probes, control socket, watchdog) does not."""
    assert isinstance(lab.topo, SriovTopology)
    topo = lab.topo
    lab.start()
    # A full window (a minute, 240 samples): over fewer than 100 samples the p99 is the single largest,
    # and one burst of decoding under emulation (~100 ms) is work, not the loop held by the kernel.
    wait_until(lambda: lab.status()["loop_lag"]["window_s"] >= 60, 120, 1, "a minute of loop-lag samples")
    t0 = time.time()
    topo.cut_carrier(0)
    wait_until(lambda: active() == topo.vf(1), 30, 0.1, lambda: f"{topo.vf(1)} active\n{lab.log_tail()}")
    move = lab.wait_event("failover", t0)
    time.sleep(3)  # the kernel's answer and the read-back
    lag = lab.status()["loop_lag"]
    print(f"sriov: PF reset failover ({move['reason']}): loop lag p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms "
          f"over the last {lag['window_s']} s")
    assert lag["p99_ms"] < 50, lag  # the budget
    # A minute's p99 alone would not catch one held second (a send from the loop showed as one such
    # sample, BENCHMARKS.md); the largest sample of a loop never held is one burst of work (~120 ms).
    assert lag["max_ms"] < 500, lag
    topo.restore_carrier(0)
    wait_until(lambda: active() == topo.vf(0), 60, 0.2, lambda: f"{topo.vf(0)} active again\n{lab.log_tail()}")
    # The backup's PF reset while a reload reads and applies: nothing gates these requests on a switch
    # (there is none), so only requests that leave the loop keep it running while the host holds RTNL.
    # Sent from the loop they held it up to 275 ms here (p99 194.5 ms); off it, the largest sample was
    # 28-100 ms (the PF reset busy-waits on the emulated CPUs the loop runs on).
    holds = []
    for _ in range(3):
        host = subprocess.Popen(["ip", "-n", topo.host_ns, "link", "set", topo.pfs[1], "down"])
        started = time.monotonic()
        time.sleep(0.05)
        lab.reload()
        host.wait(60)
        holds.append(time.monotonic() - started)
        topo.pf_restore(1)
        wait_until(lambda: Path(f"/sys/class/net/{topo.vf(1)}/carrier").read_text().strip() == "1", 60, 0.2,
                   f"{topo.vf(1)}'s carrier back")
    lag = lab.status()["loop_lag"]
    print(f"sriov: then 3 backup PF resets under a reload (host command {', '.join(f'{h:.2f}' for h in holds)} s): "
          f"loop lag p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms over the last {lag['window_s']} s")
    assert lag["max_ms"] < 200, lag


def test_a_second_vfbondd_is_refused_and_touches_nothing(lab: Daemon) -> None:
    """A debug run beside the service: it must not unlink the live socket nor supervise the same bond."""
    lab.start()
    t0 = time.time()
    second = subprocess.run([BIN / "vfbondd", "-c", lab.config], capture_output=True, text=True, timeout=120)
    print(f"veth: second vfbondd: exit {second.returncode} after {time.time() - t0:.2f} s: {second.stderr.strip()}")
    assert second.returncode == exitcodes.ALREADY_RUNNING and "another vfbondd is serving" in second.stderr
    assert lab.status()["bond"] is not None  # the first still answers on its socket
    assert lab.types(t0) == [], lab.events_since(t0)  # nothing said, nothing done
