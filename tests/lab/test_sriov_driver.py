"""vfbond against the real igbvf VF driver (QEMU igb PFs in a "host" namespace of the lab guest).

What only real VFs do, and veth never: the host locks an untrusted VF's MAC, the VF driver logs
PF resets, a PF reset drops VF carrier for seconds, a cable pull leaves VF carrier up, a re-created
VF comes up with a random MAC. Every test starts its own vfbondd (netlink backend) on the sriov
topology and leaves the VFs cabled, their PFs up and trust off.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import run, wait_until
from vfbondd_lab import BIN, LabDaemon, active

from vfbond.kernel.bond_state import SYS_NET
from vfbond.watch.kmsg import KmsgWatcher
from vfbond.watch.kmsg_rules import Kind, classify

pytestmark = pytest.mark.lab
SRIOV = pytest.mark.parametrize("topology", ["sriov"], indirect=True)


@contextmanager
def daemon(topology: Any, workdir: Path, bounce_after_s: int | None = None) -> Iterator[LabDaemon]:
    d = LabDaemon(topology, workdir)
    d.write_config(miimon=100)
    if bounce_after_s is not None:
        text = d.config.read_text()
        assert "failover: {fast: true}" in text
        d.config.write_text(text.replace("failover: {fast: true}",
                                         f"failover: {{fast: true, bounce_after_s: {bounce_after_s}}}"))
    try:
        d.start()
        wait_until(lambda: active() == topology.vfs[0], 30, 0.2, lambda: f"{topology.vfs[0]} active\n{d.log_tail()}")
        yield d
    finally:
        d.stop()


def of_type(d: LabDaemon, since: float, kind: str) -> list[dict[str, Any]]:
    return [e for e in d.events_since(since) if e["type"] == kind]


def vf_status(d: LabDaemon, name: str) -> dict[str, Any]:
    return d.status()["vf"]["slaves"].get(name, {})


@SRIOV
def test_pf_reset_fails_over_reports_pf_reset_from_the_vf_lines_and_recovered_with_the_outage(
        topology: Any, tmp_path: Path) -> None:
    vf0, vf1 = topology.vfs
    with daemon(topology, tmp_path) as d:
        t0 = time.time()
        topology.pf_reset(0)
        wait_until(lambda: active() == vf1, 10, 0.05, lambda: f"failover to {vf1} after the PF reset\n{d.log_tail()}")
        reset = wait_until(lambda: of_type(d, t0, "pf_reset"), 30, 0.5, lambda: f"pf_reset\n{d.log_tail()}")
        assert reset[0]["slave"] == vf0
        held = time.monotonic()
        topology.pf_restore(0)
        back = wait_until(lambda: of_type(d, t0, "recovered"), 40, 0.5, lambda: f"recovered\n{d.log_tail()}")
        outage_ms = back[0]["details"]["outage_ms"]
        print(f"\nPF reset outage of {vf0}: {outage_ms} ms (PF held down {time.monotonic() - held:.1f}s + recovery)")
        assert back[0]["slave"] == vf0 and 1000 < outage_ms < 60000
        wait_until(lambda: active() == vf0, 20, 0.1, "failback to the primary")
        assert topology.ping_gateway()
        kernel = of_type(d, t0, "kernel_message")
        assert {"pf_resetting", "link_down"} & {e["details"]["kind"] for e in kernel}, kernel
        # Only the VF driver's and bonding's lines: never the igb PF's, which live on the host in a real VM.
        assert {e["details"]["driver"] for e in kernel} <= {"igbvf", "bonding"}, kernel
        assert all(e["slave"] == vf0 for e in kernel), kernel
        assert f"{vf0}: kernel" in d.bondctl("status").stdout
        doctor = d.bondctl("doctor", "-c", str(d.config), check=False).stdout
        assert any(line.startswith("WARN  kernel-log") for line in doctor.splitlines()), doctor


@SRIOV
def test_a_vf_still_down_after_bounce_after_s_is_bounced_once_and_that_is_reported(
        topology: Any, tmp_path: Path) -> None:
    vf0, vf1 = topology.vfs
    with daemon(topology, tmp_path, bounce_after_s=5) as d:
        t0 = time.time()
        topology.pf_reset(1)  # the backup: the bond keeps running on vf0
        try:
            wait_until(lambda: of_type(d, t0, "pf_reset"), 30, 0.5, lambda: f"pf_reset\n{d.log_tail()}")
            attempt = wait_until(lambda: of_type(d, t0, "recovery_attempt"), 30, 0.5, "recovery_attempt")
            assert attempt[0]["slave"] == vf1 and "down and up once" in attempt[0]["reason"]
            time.sleep(8)
            assert len(of_type(d, t0, "recovery_attempt")) == 1, "one bounce per outage"
            assert vf_status(d, vf1)["outage"]["bounced"] is True
        finally:
            topology.pf_restore(1)
        back = wait_until(lambda: of_type(d, t0, "recovered"), 40, 0.5, lambda: f"recovered\n{d.log_tail()}")
        assert back[0]["details"]["bounced"] is True
        assert active() == vf0


@SRIOV
def test_the_untrusted_backup_with_an_admin_mac_is_found_mac_locked_and_its_mac_is_untouched(
        topology: Any, tmp_path: Path) -> None:
    vf0, vf1 = topology.vfs
    with daemon(topology, tmp_path) as d:
        lock = wait_until(lambda: vf_status(d, vf1).get("mac_lock"), 30, 0.5,
                          lambda: f"a MAC-lock verdict\n{d.log_tail()}")
        assert lock["state"] == "locked" and "EADDRNOTAVAIL" in lock["why"] and lock["restore_error"] is None
        assert lock["text"].startswith("sriov1: MAC locked by the host (untrusted VF)")
        assert "mac_lock" not in vf_status(d, vf0), "the active slave must never be probed"
        assert Path(SYS_NET / vf1 / "address").read_text().strip() == topology.macs[1]
        assert active() == vf0 and topology.ping_gateway()
        assert "sriov1: MAC locked by the host (untrusted VF)" in d.bondctl("status").stdout
        doctor = d.bondctl("doctor", "-c", str(d.config), check=False).stdout
        assert any(line.startswith("PASS  mac-lock") for line in doctor.splitlines()), doctor


@SRIOV
def test_a_trusted_vf_is_not_mac_locked_and_gets_its_mac_back(topology: Any, tmp_path: Path) -> None:
    vf1 = topology.vfs[1]
    topology.set_trust(1, True)
    try:
        with daemon(topology, tmp_path) as d:
            lock = wait_until(lambda: vf_status(d, vf1).get("mac_lock"), 30, 0.5, "a MAC-lock verdict")
            assert lock["state"] == "unlocked" and lock["restore_error"] is None
            assert Path(SYS_NET / vf1 / "address").read_text().strip() == topology.macs[1]
            # The supervisor re-read the bond on the trial MAC's link event and must not have seen it.
            assert not [e for e in d.events() if e["type"] == "mac_changed"], d.events()
    finally:
        topology.set_trust(1, False)


@SRIOV
def test_fail_over_mac_none_on_locked_vfs_is_seen_as_bondings_error_99_for_that_vf(topology: Any) -> None:
    """A hand-made bond9 with fail_over_mac none: the VF refused (the first may lend the bond its own MAC, the
    second must take it and cannot), the kernel line names it, and the watcher reads it from /dev/kmsg."""
    vfs = list(topology.vfs)

    async def watch() -> tuple[list[str], list[Any]]:
        watcher = KmsgWatcher()
        watcher.start()
        refused_by_ip: list[str] = []
        found: list[Any] = []
        try:
            run(["ip", "link", "add", "bond9", "type", "bond", "mode", "active-backup", "fail_over_mac", "none"])
            for vf in vfs:
                run(["ip", "link", "set", vf, "nomaster"], check=False)
                run(["ip", "link", "set", vf, "down"])
                if run(["ip", "link", "set", vf, "master", "bond9"], check=False).returncode != 0:
                    refused_by_ip.append(vf)
            try:
                async with asyncio.timeout(10):
                    async for rec in watcher.records():
                        obs = classify(rec.text, bond="bond9", netdev_of=lambda pci: None,
                                       is_slave=lambda name: name in vfs, at=rec.at)
                        if obs is not None:
                            found.append(obs)
                            if obs.kind is Kind.MAC_REFUSED:
                                break
            except TimeoutError:
                pass  # the assertions below say what was missing
        finally:
            watcher.close()
            run(["ip", "link", "del", "bond9"], check=False)
            for vf in vfs:
                run(["ip", "link", "set", vf, "up"], check=False)
        return refused_by_ip, found

    refused_by_ip, found = asyncio.run(watch())
    assert refused_by_ip, "an untrusted VF took bond9's MAC"
    refused = [o for o in found if o.kind is Kind.MAC_REFUSED]
    assert refused and refused[0].slave == refused_by_ip[0], found
    assert "Error -99 calling set_mac_address" in refused[0].text and "trust on" in refused[0].hint


@SRIOV
def test_doctor_without_vfbondd_names_the_mac_locked_vf_from_the_kernel_log(topology: Any, tmp_path: Path) -> None:
    """A hand-made bond0 with fail_over_mac none (the seed's mistake): doctor reads bonding's refusal back from
    the kernel log and FAILs with the fix, though no vfbondd ever probed."""
    d = LabDaemon(topology, tmp_path)
    d.write_config(miimon=100)  # the config doctor checks against; vfbondd is not started
    refused = []
    try:
        run(["ip", "link", "add", "bond0", "type", "bond", "mode", "active-backup", "fail_over_mac", "none"])
        for vf in topology.vfs:
            run(["ip", "link", "set", vf, "nomaster"], check=False)
            run(["ip", "link", "set", vf, "down"])
            if run(["ip", "link", "set", vf, "master", "bond0"], check=False).returncode != 0:
                refused.append(vf)
        assert refused, "an untrusted VF took bond0's MAC"
        done = run([str(BIN / "bondctl"), "doctor", "-c", str(d.config), "--json"], check=False)
        found = {f["check"]: f for f in json.loads(done.stdout)["findings"]}
        lock = found["mac-lock"]
        assert lock["status"] == "FAIL" and "Error -99 calling set_mac_address" in lock["message"], lock
        assert "fail_over_mac=none" in lock["message"] and "trust on" in lock["fix"]
    finally:
        run(["ip", "link", "del", "bond0"], check=False)
        for vf in topology.vfs:
            run(["ip", "link", "set", vf, "up"], check=False)


@SRIOV
def test_a_cable_pull_keeps_vf_carrier_and_without_probes_status_and_doctor_say_the_path_is_unmonitored(
        topology: Any, tmp_path: Path) -> None:
    vf0 = topology.vfs[0]
    with daemon(topology, tmp_path) as d:
        topology.cable_pull(0)
        try:
            time.sleep(3)
            assert topology.carrier(0), "the VF lost carrier: this is not the case only probes catch"
            assert active() == vf0  # nobody noticed: that is the point
            assert not topology.ping_gateway()
            status = d.bondctl("status").stdout
            assert "NOTE: probes off: a dead path with carrier up (forced link state, upstream failure) goes " \
                   "unnoticed" in status
            doctor = d.bondctl("doctor", "-c", str(d.config), check=False).stdout
            assert any(line.startswith("WARN  path-probes") for line in doctor.splitlines()), doctor
        finally:
            topology.cable_restore(0)


@SRIOV
def test_a_vf_recreated_without_admin_mac_is_reported_with_its_pci_address(topology: Any, tmp_path: Path) -> None:
    """Last in the module: it re-creates a VF (the fixture's recreate_vf with the admin MAC puts it back)."""
    with daemon(topology, tmp_path) as d:
        t0 = time.time()
        topology.recreate_vf(1, admin_mac=False)
        try:
            random = wait_until(lambda: [e for e in of_type(d, t0, "kernel_message")
                                         if e["details"]["kind"] == "random_mac"], 30, 0.5,
                                lambda: f"a random_mac kernel_message\n{d.log_tail()}")
            assert random[0]["details"]["driver"] == "igbvf" and random[0]["details"]["pci"]
            assert "the host set no MAC for this VF" in random[0]["reason"]
            # known by its PCI address meanwhile, and not enslaved on a MAC that is not its own
            waiting = wait_until(lambda: d.status()["vf"]["waiting"].get("sriov1"), 15, 0.5, "sriov1 waiting")
            assert waiting["pci"] == random[0]["details"]["pci"]
            assert f"waiting for the host to set {topology.macs[1]}" in d.bondctl("status").stdout
            assert not Path(f"/sys/class/net/{topology.vfs[1]}/master").exists()
        finally:
            topology.recreate_vf(1, admin_mac=True)  # the host sets the admin MAC: the VF driver resets
        wait_until(lambda: Path(f"/sys/class/net/{topology.vfs[1]}/master").exists(), 30, 0.2,
                   lambda: f"{topology.vfs[1]} re-enslaved once it has its own MAC\n{d.log_tail()}")
        assert not d.status()["vf"]["waiting"]
