"""Which slave should be active. Pure: per-slave verdicts in, a decision out.

It knows nothing of how a verdict was reached (carrier, ARP/NS probes): see health.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vfbond.shared.status import Verdict

BAD = frozenset({Verdict.DOWN, Verdict.PATH_DOWN, Verdict.MISSING})
WHAT = {Verdict.DOWN: "carrier loss", Verdict.PATH_DOWN: "path failure", Verdict.MISSING: "slave missing"}


@dataclass(frozen=True)
class Decision:
    switch_to: str | None = None
    reason: str = ""
    isolated: bool = False  # no slave is usable: keep the current one and raise the alarm


def decide(active: str | None, verdicts: Mapping[str, Verdict], primary: str | None, reselect: str,
           settling: frozenset[str] = frozenset(), standby: str | None = None) -> Decision:
    """Fail over off a bad active slave onto a healthy one; fail back per primary_reselect.

    Never picks a slave that is known bad. `better` acts like `failure` here: both VFs have the
    same speed, and the kernel already applies `better` to carrier changes itself. `settling`:
    slaves up for less than updelay; no failback onto them, and a failover takes one only when no
    settled slave is left (the kernel does the same: bonding.rst 13.1, mode-1-recovery-updelay.sh).
    `standby` (an interface name): the last resort, taken only when no VF is up, and left for the
    first VF that has been up for updelay, whatever primary_reselect says.
    """
    vfs = {name: verdict for name, verdict in verdicts.items() if name != standby}
    healthy = sorted(name for name, verdict in vfs.items() if verdict == Verdict.UP)
    state = verdicts.get(active, Verdict.MISSING) if active else Verdict.MISSING
    if active is not None and active == standby and (settled := [n for n in healthy if n not in settling]):
        target = primary if primary in settled else settled[0]
        return Decision(switch_to=target, reason=f"{target} usable again: off the standby {standby}")
    if state in BAD:
        others = [name for name in healthy if name != active]
        candidates = [name for name in others if name not in settling] or others
        what = WHAT[state]
        if not candidates and standby and active != standby and verdicts.get(standby) == Verdict.UP:
            return Decision(switch_to=standby, reason=f"{what} on {active or 'the VFs'} and no VF is usable: "
                                                      f"onto the standby {standby}")
        if not candidates:
            isolated = all(verdict in BAD for verdict in verdicts.values())
            return Decision(isolated=isolated, reason=f"{active or 'no slave'} is {state} and no backup is healthy")
        target = primary if primary in candidates else candidates[0]
        return Decision(switch_to=target, reason=f"{what} on {active}" if active else "no active slave")
    if primary and active != primary and reselect == "always" and verdicts.get(primary) == Verdict.UP \
            and primary not in settling:
        return Decision(switch_to=primary, reason=f"primary {primary} healthy again (primary_reselect=always)")
    return Decision()
