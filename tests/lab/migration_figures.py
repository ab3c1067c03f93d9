"""A live migration's figures from the kernel's side, for the benchmark (tests/lab/test_bench_migration.py).

One trial: the host removes both VFs (the detach), the bond runs on the standby, VFs with the same
MACs come back under new names. The recorders are timeline.py's, started for the trial: `ip -ts -d
monitor link` in the guest, `tcpdump -tt -e` on the standby and on the VFs' switch ports (the VFs
themselves are new netdevs mid-trial, nothing can capture on them from the start), and `ping -D`
through bond0. All stamp the realtime clock; the parsing here is pure and unit-tested.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from timeline import LinkRecord, Packet, is_gateway_reply

_REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)", re.M)
_SUMMARY = re.compile(r"^(\d+) packets transmitted, (\d+) received", re.M)

Figures = dict[str, float | str | None]
# The table's rows; the last three are None when no VF was active within the window ("never").
ROWS = ("lost", "standby_reply", "back_on_vf", "back_on_primary", "vf_reply")
NEVER = frozenset({"back_on_vf", "back_on_primary", "vf_reply"})
COLUMNS = {"kernel": "kernel alone", "nm": "NetworkManager alone", "vfbondd": "vfbondd"}


@dataclass(frozen=True)
class PingRun:
    """`ping -D` through the bond: its replies (time, icmp_seq) and its own count of the losses."""

    replies: tuple[tuple[float, int], ...]
    sent: int | None
    received: int | None

    @property
    def lost(self) -> int | None:
        return None if self.sent is None or self.received is None else self.sent - self.received


def parse_ping(text: str) -> PingRun:
    """ping's output up to its summary (it prints one on SIGINT or at its deadline); without one (it
    was killed) the losses are unknown, not guessed from the replies."""
    replies = tuple((float(t), int(seq)) for t, seq in _REPLY.findall(text))
    m = _SUMMARY.search(text)
    return PingRun(replies, int(m.group(1)) if m else None, int(m.group(2)) if m else None)


@dataclass(frozen=True)
class Trial:
    """What the figures of one trial are read against. `old`/`new`: the VFs' names before and after
    (VF 0, the active one and the primary, first); `vf_ports`: the switch ports the VFs hang off."""

    since: float
    until: float
    old: tuple[str, ...]
    new: tuple[str, ...]
    standby: str
    vf_ports: tuple[str, ...]
    vf_macs: tuple[str, ...]
    gw4: str
    window_s: float = 30.0


def dst_mac(p: Packet) -> str:
    """The destination of a `tcpdump -e` line ("<time> <src> > <dst>, ethertype ...")."""
    return p.text.split(" ", 4)[3].rstrip(",").lower()


Item = TypeVar("Item", LinkRecord, Packet)


def _first(items: Iterable[Item], pred: Callable[[Item], bool], after: float, before: float) -> float | None:
    return next((x.t for x in items if after <= x.t <= before and pred(x)), None)


def _ms(t: float | None, origin: float | None) -> float | None:
    return None if t is None or origin is None else (t - origin) * 1000


def migration_times(links: Sequence[LinkRecord], packets: Sequence[Packet], tr: Trial) -> Figures:
    """The trial's figures, None where not seen: from the detach (VF 0 losing its carrier or removed)
    to the standby ACTIVE and to the first gateway reply reaching it once active; from the first
    returned VF's carrier (or its return, where nothing brings it up) to a VF ACTIVE, to the primary
    ACTIVE (both within `window_s`, else None: never) and to the first gateway reply sent to a VF.

    The returned VFs are looked for after both old ones are deleted: the old VF 0's last messages still
    say ACTIVE, and a VF may come back under its old name."""
    t0 = _first(links, lambda r: r.name == tr.old[0] and (r.deleted or not r.carrier), tr.since, tr.until)
    if t0 is None:
        return {"detach": None}
    deletions = [_first(links, lambda r, n=n: r.name == n and r.deleted, t0, tr.until) for n in tr.old]
    gone = max((d for d in deletions if d is not None), default=t0)
    new = set(tr.new)
    standby_active = _first(links, lambda r: r.name == tr.standby and r.bond_active, t0, tr.until)
    standby_reply = _first(packets, lambda p: p.dev == tr.standby and is_gateway_reply(p, tr.gw4),
                           standby_active or t0, tr.until)
    back = _first(links, lambda r: r.name in new and not r.deleted, gone, tr.until)
    carrier = _first(links, lambda r: r.name in new and r.carrier, gone, tr.until)
    origin = carrier or back
    end = min(tr.until, origin + tr.window_s) if origin is not None else tr.until
    on_vf = _first(links, lambda r: r.name in new and r.bond_active, gone, end) if origin is not None else None
    on_primary = _first(links, lambda r: r.name == tr.new[0] and r.bond_active, gone, end) \
        if origin is not None else None
    macs = {m.lower() for m in tr.vf_macs}
    vf_reply = _first(packets, lambda p: p.dev in tr.vf_ports and is_gateway_reply(p, tr.gw4) and dst_mac(p) in macs,
                      on_vf, tr.until) if on_vf is not None else None
    return {
        "detach": 0.0, "gone": _ms(gone, t0), "standby_active": _ms(standby_active, t0),
        "standby_reply": _ms(standby_reply, t0), "vf_back": _ms(back, t0), "vf_carrier": _ms(carrier, t0),
        "origin": "carrier" if carrier is not None else "return" if back is not None else None,
        "watched_s": None if origin is None else tr.until - origin,
        "back_on_vf": _ms(on_vf, origin), "back_on_primary": _ms(on_primary, origin), "vf_reply": _ms(vf_reply, origin),
    }


Stat = tuple[float, float, int, int]  # median, max, trials with the figure, trials without it


def summary(rows: Sequence[dict[str, object]]) -> dict[str, dict[str, Stat | None]]:
    """Per column and row: (median, max) over the trials that saw the detach and have the figure (0, 0
    if none has it), and how many have it and how many not; None for a column without such a trial."""
    out: dict[str, dict[str, Stat | None]] = {}
    for column in COLUMNS:
        done = [r for r in rows if r["column"] == column and r.get("detach") is not None]
        out[column] = {}
        for row in ROWS:
            seen = [float(v) for r in done if isinstance(v := r.get(row), int | float)]
            stat = (statistics.median(seen), max(seen)) if seen else (0.0, 0.0)
            out[column][row] = (*stat, len(seen), len(done) - len(seen)) if done else None
    return out


def _cell(s: Stat | None, row: str) -> str:
    if s is None:
        return "no trial"
    median, most, seen, missing = s
    if not seen:
        return f"never ({missing} of {missing})" if row in NEVER else "not seen"
    text = f"{median:.0f} / {most:.0f}"
    return text + (f" (never in {missing})" if row in NEVER else f" (not seen in {missing})") if missing else text


def _ratio(other: Stat | None, ours: Stat | None, row: str) -> str:
    if other and ours and other[2] and ours[2] and ours[0] > 0:
        return f"{other[0] / ours[0]:.1f}x"
    if row in NEVER and other and not other[2] and ours and ours[2]:
        return "never back"
    return "-"


def table(rows: Sequence[dict[str, object]], pings_per_s: int) -> str:
    """The markdown table: per column median / max of each figure, and each other column against vfbondd."""
    s = summary(rows)
    names = {"lost": f"pings lost at {pings_per_s}/s, whole migration",
             "standby_reply": "detach -> first gateway reply through the standby, ms",
             "back_on_vf": "first VF's carrier (its return if nothing brings it up) -> a VF ACTIVE, ms",
             "back_on_primary": "... -> the primary VF ACTIVE, ms",
             "vf_reply": "... -> first gateway reply sent to a VF, ms"}
    n = {c: sum(1 for r in rows if r["column"] == c) for c in COLUMNS}
    head = [f"{name} (of {n[c]})" for c, name in COLUMNS.items()]
    head += ["kernel / vfbondd", "NetworkManager / vfbondd"]
    lines = ["| live migration (median / max) | " + " | ".join(head) + " |", "| --- |" + " --- |" * len(head)]
    for row in ROWS:
        cells = [_cell(s[c][row], row) for c in COLUMNS]
        cells += [_ratio(s[c][row], s["vfbondd"][row], row) for c in ("kernel", "nm")]
        lines.append(f"| {names[row]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
