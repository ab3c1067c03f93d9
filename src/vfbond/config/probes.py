"""Path probes: which gateways to ask, how often, and when a slave counts as cut off."""

from __future__ import annotations

from typing import Any

from vfbond import redact
from vfbond.config import checks
from vfbond.config.reader import Reader
from vfbond.config.schema import ProbeConfig


def read_probes(r: Reader, raw: Any) -> ProbeConfig:
    sect = r.section(raw, "probes", ProbeConfig)
    targets = r.items(sect.raw.get("targets"), "probes.targets", "list the gateway addresses to probe")
    good = []
    for i, t in enumerate(targets):
        shown = redact.shown("probes.targets", t)
        if why := checks.ip(t) if isinstance(t, str) else f"expected an address, got {shown}":
            r.problem(f"probes.targets[{i}]", why, "give a plain IPv4 or IPv6 address (usually the gateway)")
        else:
            good.append(t)
    enabled = sect.get("enabled", bool, default=bool(good))  # targets given: probing is meant
    if enabled and not good:
        r.problem("probes.targets", "probes are enabled but no target is given",
                  "add the gateway address under probes.targets, or set enabled: false")
    interval = sect.get("interval_ms", int, lambda v: None if v >= 50 else "must be 50 or more",
                        "use 50 ms or more; {default} is the default")
    timeout = sect.get("timeout_ms", int, checks.positive,
                       f"use up to interval_ms; {sect.default('timeout_ms')} is the default",
                       default=min(sect.default("timeout_ms"), interval))
    if timeout > interval:
        r.problem("probes.timeout_ms", f"{timeout} is longer than interval_ms ({interval})",
                  "make the timeout at most the interval")
    return ProbeConfig(enabled=enabled, targets=tuple(good), interval_ms=interval, timeout_ms=timeout,
                       failures=sect.get("failures", int, checks.positive, "use 1 or more; {default} is the default"),
                       window=sect.get("window", int, checks.positive, "use 1 or more; {default} is the default"))
