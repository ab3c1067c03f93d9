"""Per-slave health from probe results, carrier and presence. Pure: no sockets, no packets.

Like teamd's link watchers and runner, whoever probes (watch/probes.py) only reports results here,
and the policy (policy.py) only sees the verdicts, never how they were reached.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from vfbond.config import ProbeConfig
from vfbond.shared.status import ProbeStats, SlaveHealth, TargetHealth, Verdict


class ProbeState(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ProbeResult:
    slave: str  # the slave's label, stable across VF renames
    target: str  # normalised with normalize_target()
    ok: bool
    rtt: float | None = None  # seconds; None when the probe timed out


def normalize_target(address: str) -> str:
    """One spelling per address, so config targets and reply sources compare equal."""
    return str(ipaddress.ip_address(address.split("%", 1)[0]))


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


class _Target:
    def __init__(self, window: int) -> None:
        self.window: deque[float | None] = deque(maxlen=window)  # rtt, or None for a miss
        self.failures = 0  # consecutive misses
        self.proven = False  # answered since the last reset: until then a few misses mean "unknown"
        self.last_reply_at: float | None = None
        self.last_rtt: float | None = None

    def record(self, ok: bool, rtt: float | None, now: float) -> None:
        self.window.append(rtt if ok else None)
        if ok:
            self.failures = 0
            self.proven = True
            self.last_reply_at = now
            self.last_rtt = rtt
        else:
            self.failures += 1

    def reset(self) -> None:
        self.failures = 0
        self.proven = False

    def state(self, threshold: int) -> ProbeState:
        if self.failures >= threshold:
            return ProbeState.UNHEALTHY
        return ProbeState.HEALTHY if self.proven else ProbeState.UNKNOWN


def _stats(targets: Iterable[_Target], now: float) -> ProbeStats:
    targets = list(targets)
    entries = [e for t in targets for e in t.window]
    rtts = [e for e in entries if e is not None]
    replies = [(t.last_reply_at, t.last_rtt) for t in targets if t.last_reply_at is not None]
    last_at, last_rtt = max(replies, key=lambda r: r[0], default=(None, None))
    return {
        "last_reply_age_s": None if last_at is None else round(now - last_at, 3),
        "rtt_last_ms": _ms(last_rtt),
        "rtt_avg_ms": _ms(sum(rtts) / len(rtts)) if rtts else None,
        "loss_pct": round(100 * (len(entries) - len(rtts)) / len(entries), 1) if entries else None,
        "probes_in_window": len(entries),
    }


class _Slave:
    def __init__(self, targets: tuple[str, ...], window: int) -> None:
        self.carrier: bool | None = None
        self.present = True  # until told otherwise: the daemon starts from slaves it found
        self.targets = {t: _Target(window) for t in targets}

    def reset(self) -> None:
        for target in self.targets.values():
            target.reset()


class Health:
    """Per-slave verdicts for the policy and `bondctl status --json`.

    A slave's probes are healthy while any target answers (the bonding driver's arp_all_targets=any):
    one family's gateway being misconfigured does not make the path dead. They turn unhealthy once
    every target has missed `failures` probes in a row. After the slave returns or its carrier comes
    back, old misses are forgotten and the slave is `unknown` until a target answers again, so it is
    never called `up` on stale evidence.
    """

    def __init__(self, slaves: Iterable[str], config: ProbeConfig,
                 on_change: Callable[[str, Verdict, Verdict], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._probing = config.enabled and bool(config.targets)
        targets = tuple(normalize_target(t) for t in config.targets) if self._probing else ()
        self._threshold = config.failures
        self._slaves = {name: _Slave(targets, config.window) for name in slaves}
        self._on_change = on_change
        self._clock = clock

    def record(self, result: ProbeResult) -> None:
        slave = self._slaves[result.slave]
        target = slave.targets.get(result.target)
        if target is None:  # a target dropped by a config reload while its probe was in flight
            return
        self._changing(result.slave, lambda: target.record(result.ok, result.rtt, self._clock()))

    def set_carrier(self, slave: str, up: bool) -> None:
        state = self._slaves[slave]

        def apply() -> None:
            if up and state.carrier is not True:
                state.reset()  # misses while the link was down say nothing about the path now
            state.carrier = up
        self._changing(slave, apply)

    def set_present(self, slave: str, present: bool) -> None:
        state = self._slaves[slave]

        def apply() -> None:
            if present and not state.present:
                state.reset()
            state.present = present
        self._changing(slave, apply)

    def probe_state(self, slave: str) -> ProbeState:
        states = {t.state(self._threshold) for t in self._slaves[slave].targets.values()}
        if ProbeState.HEALTHY in states:
            return ProbeState.HEALTHY
        return ProbeState.UNHEALTHY if states == {ProbeState.UNHEALTHY} else ProbeState.UNKNOWN

    def verdict(self, slave: str) -> Verdict:
        state = self._slaves[slave]
        if not state.present:
            return Verdict.MISSING
        if state.carrier is None:
            return Verdict.UNKNOWN
        if not state.carrier:
            return Verdict.DOWN
        if not self._probing:
            return Verdict.UP
        return {ProbeState.HEALTHY: Verdict.UP, ProbeState.UNHEALTHY: Verdict.PATH_DOWN,
                ProbeState.UNKNOWN: Verdict.UNKNOWN}[self.probe_state(slave)]

    def verdicts(self) -> dict[str, Verdict]:
        """The input policy.decide() takes."""
        return {name: self.verdict(name) for name in self._slaves}

    def snapshot(self) -> dict[str, SlaveHealth]:
        """Plain, JSON-ready dicts; times are ages in seconds, RTTs in milliseconds."""
        now = self._clock()
        out: dict[str, SlaveHealth] = {}
        for name, state in self._slaves.items():
            targets: dict[str, TargetHealth] = {
                address: {"state": t.state(self._threshold).value, "consecutive_failures": t.failures,
                          **_stats([t], now)}
                for address, t in state.targets.items()
            }
            out[name] = {
                "verdict": self.verdict(name),
                "present": state.present,
                "carrier": state.carrier,
                "probes": self.probe_state(name).value if self._probing else "disabled",
                **_stats(state.targets.values(), now),
                "targets": targets,
            }
        return out

    def _changing(self, slave: str, apply: Callable[[], None]) -> None:
        before = self.verdict(slave)
        apply()
        after = self.verdict(slave)
        if after != before and self._on_change is not None:
            self._on_change(slave, before, after)
