"""Runs one prober per slave of the bond and keeps their health, keyed by slave label.

Labels (sriov0, sriov1) are stable; interface names are not (a VF may return renamed), so this
is the one place that maps between them for the probes.
"""

from __future__ import annotations

from collections.abc import Callable

from vfbond.config import BondConfig, ProbeConfig
from vfbond.judge.health import Health, ProbeResult
from vfbond.shared.status import SlaveHealth, Verdict
from vfbond.watch.probes import SlaveProber

OnVerdict = Callable[[str, Verdict, Verdict], None]  # label, old, new
OnRtt = Callable[[str, float], None]  # label, seconds until a probe's reply (metrics)


class Probing:
    def __init__(self, bond: BondConfig, config: ProbeConfig, on_change: OnVerdict,
                 on_rtt: OnRtt | None = None) -> None:
        self.config = config
        self.health = Health([s.label for s in bond.members], config, on_change=on_change)  # the standby too
        self.on_rtt = on_rtt
        self.bond_ipv4 = bond.ipv4.first_ip
        self.probers: dict[str, SlaveProber] = {}

    def bind(self, label: str, ifname: str) -> None:
        """Start probing `label` out of `ifname`, or follow it to a new name."""
        prober = self.probers.get(label)
        if prober is None:
            prober = SlaveProber(label, ifname, self.config, on_result=self.record,
                                 on_presence=self.health.set_present)
            prober.start()  # may fail (no CAP_NET_RAW): kept only once started, so the next sync retries
            self.probers[label] = prober
        elif prober.ifname != ifname:
            prober.reopen(ifname)

    def record(self, result: ProbeResult) -> None:
        """One probe's result, from a prober: the health verdicts, and its RTT for the metrics."""
        self.health.record(result)
        if result.rtt is not None and self.on_rtt is not None:
            self.on_rtt(result.slave, result.rtt)

    def set_active(self, label: str | None) -> None:
        """Only the active slave's ARP may carry the bond's IP: a backup claiming it would
        re-point every neighbour's ARP entry at the backup's MAC."""
        for name, prober in self.probers.items():
            prober.set_sender_ipv4(self.bond_ipv4 if name == label else None)

    def set_carrier(self, label: str, up: bool) -> None:
        self.health.set_carrier(label, up)

    def verdicts(self) -> dict[str, Verdict]:
        return self.health.verdicts()

    def snapshot(self) -> dict[str, SlaveHealth]:
        return self.health.snapshot()

    async def stop(self) -> None:
        for prober in self.probers.values():
            await prober.stop()
        self.probers.clear()
