"""Path probes: which gateways to ask, how often, and when a slave counts as cut off."""

from __future__ import annotations

from typing import Any

from vfbond import redact
from vfbond.config import checks
from vfbond.config.reader import Reader
from vfbond.config.schema import ProbeConfig


def read_probes(r: Reader, raw: Any) -> ProbeConfig:
    sect = r.section(raw, "probes", ("enabled", "targets", "interval_ms", "timeout_ms", "failures", "window"))
    targets = r.items(sect.get("targets"), "probes.targets", "list the gateway addresses to probe")
    good = []
    for i, t in enumerate(targets):
        shown = redact.shown("probes.targets", t)
        if why := checks.ip(t) if isinstance(t, str) else f"expected an address, got {shown}":
            r.problem(f"probes.targets[{i}]", why, "give a plain IPv4 or IPv6 address (usually the gateway)")
        else:
            good.append(t)
    enabled = r.get(sect, "probes", "enabled", bool, bool(good))
    if enabled and not good:
        r.problem("probes.targets", "probes are enabled but no target is given",
                  "add the gateway address under probes.targets, or set enabled: false")
    interval = r.get(sect, "probes", "interval_ms", int, 500, lambda v: None if v >= 50 else "must be 50 or more",
                     "use 50 ms or more; 500 is the default")
    timeout = r.get(sect, "probes", "timeout_ms", int, min(400, interval), checks.positive,
                    "use up to interval_ms; 400 is the default")
    if timeout > interval:
        r.problem("probes.timeout_ms", f"{timeout} is longer than interval_ms ({interval})",
                  "make the timeout at most the interval")
    return ProbeConfig(enabled=enabled, targets=tuple(good), interval_ms=interval, timeout_ms=timeout,
                       failures=r.get(sect, "probes", "failures", int, 3, checks.positive,
                                      "use 1 or more; 3 is the default"),
                       window=r.get(sect, "probes", "window", int, 20, checks.positive,
                                    "use 1 or more; 20 is the default"))
