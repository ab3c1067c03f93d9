"""bondctl's text: the status table and its notes, and the events' lines. Pure: a status in, text out.

Every reader tolerates a part missing from the status (an older vfbondd's, or the kernel's alone
while vfbondd does not answer): `bondctl status` must show what there is.
"""

from __future__ import annotations

import time
from typing import TypeGuard

from vfbond.judge.condition import Condition, of_status, usable
from vfbond.shared.status import (
    BondDict,
    EventDict,
    KernelStatus,
    LabelledHealth,
    ReconcileStatus,
    SlaveDict,
    Status,
    VfSlave,
    VfStatus,
)

UNMONITORED = ("probes off: a dead path with carrier up (forced link state, upstream failure) goes unnoticed; "
               "enable probes (probes.enabled: true, probes.targets: [<gateway>])")
SLAVE_HEADER = (f"  {'':1} {'SLAVE':<10} {'STATE':<7} {'MII':<5} {'HEALTH':<10} {'FAILS':>5}  {'MAC':<17} "
                f"{'PERM MAC':<17} {'DRIVER':<8} {'PCI':<13} {'NUMA':>4}  PROBES")


def from_daemon(data: KernelStatus) -> TypeGuard[Status]:
    """vfbondd's status (else the kernel's alone, read while vfbondd does not answer)."""
    return data.get("source") == "vfbondd"


def waiting(data: KernelStatus) -> str | None:
    """What vfbondd's apply waits for ("waiting for sriov1 fa:16:3e:..."), if it waits."""
    daemon = data.get("daemon") if from_daemon(data) else None
    return daemon.get("waiting") if daemon else None


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    seconds = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def status_text(name: str, data: KernelStatus | None) -> str:
    """The table of a bond that is present, else that it is not (and what vfbondd waits for)."""
    if data and data.get("bond"):
        return render_status(data)
    return f"{name}: not present" + (f"; vfbondd is {waiting(data)}" if data else "")


def health(name: str, data: KernelStatus | None) -> tuple[Condition, str]:
    """`bondctl health`'s verdict and its reason; a standing warning on the bond degrades it."""
    verdict = of_status(data, warned=bool(data and data.get("warnings")))
    bond = data.get("bond") if data else None
    if data is None or bond is None:
        return verdict, f"{name} not present" + (f"; vfbondd is {waiting(data)}" if data else "")
    up, _ = usable(data)
    if verdict == Condition.DOWN:
        return verdict, "no usable slave"
    if verdict == Condition.DEGRADED:
        usable_now = f"only {', '.join(up)} usable" if up else \
            f"no VF usable: the standby {bond['active_slave']} carries the traffic"
        return verdict, "; ".join(data.get("warnings") or [usable_now])
    return verdict, f"{len(up)} slaves usable, active {bond['active_slave']}"


def render_status(data: KernelStatus) -> str:
    """The status table of a bond that is present, then what an operator must know about it."""
    bond = data["bond"]
    assert bond is not None, "render_status shows a bond that is present"
    status = data if from_daemon(data) else None
    lines = _bond_lines(bond, data.get("source", ""), status)
    lines += ["", SLAVE_HEADER, *_slave_rows(bond, status), "  (* active slave)"]
    if status is not None:
        lines += _standby_lines(status)
        lines += _vf_lines(status.get("vf") or {}, bond["fail_over_mac"])
        lines += _failover_lines(status)
        lines += _daemon_notes(status)
    lines += [f"WARNING: {w}" for w in data.get("warnings", [])]
    return "\n".join(lines)


def _bond_lines(b: BondDict, source: str, status: Status | None) -> list[str]:
    link = b["link"]
    lines = [
        f"{link['name']}: {b['mode']}, {link['operstate']}, mac {link['mac']}, mtu {link['mtu']}  [{source}]",
        f"  fail_over_mac={b['fail_over_mac']}  miimon={b['miimon']}ms  updelay={b['updelay']}  "
        f"downdelay={b['downdelay']}  primary={b['primary'] or '-'}  primary_reselect={b['primary_reselect']}  "
        f"peer_notif={b['num_peer_notif']}  arp_interval={b['arp_interval']}",
    ]
    if b.get("addresses"):
        lines.append(f"  addresses: {', '.join(b['addresses'])}")
    daemon = status.get("daemon") if status else None
    if daemon:
        version = daemon.get("backend_version")
        said = daemon["backend"]  # "backend: netlink in the config", or "not chosen yet"
        said = said if said.startswith("backend") else f"backend {said}"
        lines.append(f"  {said}" + (f" ({version})" if version else ""))
    return lines


def _slave_rows(b: BondDict, status: Status | None) -> list[str]:
    verdicts = (status.get("verdicts") if status else None) or {}
    health = (status.get("health") if status else None) or {}
    return [_slave_row(s, s["link"]["name"] == b["active_slave"], verdicts.get(s["link"]["name"], "-"),
                       health.get(s["link"]["name"])) for s in b["slaves"]]


def _slave_row(s: SlaveDict, active: bool, verdict: str, probe: LabelledHealth | None) -> str:
    sl = s["link"]
    return (f"  {'*' if active else ' '} {sl['name']:<10} {s['state']:<7} {s['mii_status']:<5} "
            f"{verdict:<10} {s['link_failure_count']:>5}  {sl['mac']:<17} "
            f"{(s['perm_mac'] or '-'):<17} {(sl['driver'] or '-'):<8} {(sl['pci_address'] or '-'):<13} "
            f"{sl['numa_node'] if sl['numa_node'] is not None else '-':>4}  {_probe_text(probe) if probe else '-'}")


def _probe_text(probe: LabelledHealth) -> str:
    age = probe.get("last_reply_age_s")
    last = "never" if age is None else f"{age:.1f}s ago"
    rtt = probe.get("rtt_avg_ms")
    loss = probe.get("loss_pct")
    return (f"{probe['probes']}: last reply {last}, rtt {'-' if rtt is None else f'{rtt:.1f} ms'}, "
            f"loss {'-' if loss is None else f'{loss:.0f}%'}")


def _standby_lines(status: Status) -> list[str]:
    """The paravirtual member that carries the VM while no VF is usable (a live migration, #22)."""
    sb = status.get("standby")
    if not sb:
        return []
    name = sb["ifname"] or "not on this VM"
    total = f"{sb['on_standby_total_s']:.0f} s on it since vfbondd started"
    if sb["on_standby"]:
        why = "both VFs detached (a live migration?)" if sb["migration"] else "no VF usable"
        now = f"CARRYING THE VM for {sb['on_standby_s'] or 0:.0f} s: {why}"
    else:
        now = "standing by" + (f"; detached: {', '.join(sb['detached'])}" if sb["detached"] else "")
    lines = [f"\nstandby {sb['label']} ({name}): {now}; {total}"]
    missing = status.get("vfs_not_returned")
    if missing:
        lines.append(f"ALERT: VFs not back after the migration: {', '.join(missing)}")
    return lines


def _vf_lines(vf: VfStatus, fail_over_mac: str) -> list[str]:
    """What only real VFs show: MAC lock, an outage after a PF reset, the VF driver's last kernel line."""
    lines = []
    for name, info in sorted(vf.get("slaves", {}).items()):
        lines += _vf_slave_lines(name, info, fail_over_mac)
    for waits in (vf.get("waiting") or {}).values():
        lines.append(f"  {waits['text']}")
    kmsg = vf.get("kmsg")
    if kmsg and kmsg.get("error"):
        lines.append(f"kernel messages not followed: {kmsg['error']}")
    return lines


def _vf_slave_lines(name: str, info: VfSlave, fail_over_mac: str) -> list[str]:
    lines = []
    lock = info.get("mac_lock")
    if lock:
        lines.append(f"  {lock['text']}")
        if lock["state"] == "locked" and fail_over_mac != "active":
            lines.append(f"WARNING: {name}'s MAC is locked and fail_over_mac={fail_over_mac}: the bond cannot "
                         "move its MAC, failover fails. Fix: fail_over_mac: active, or "
                         "`ip link set <pf> vf <n> trust on` on the host")
        if lock.get("restore_error"):
            lines.append(f"WARNING: {lock['restore_error']}")
    outage = info.get("outage")
    if outage and outage["pf_reset"]:
        bounce = ("bounced once" if outage["bounced"] else f"bounce at {outage['bounce_after_s']}s"
                  if outage["bounce_after_s"] else "no bounce configured")
        lines.append(f"  {name}: no carrier for {outage['down_s']:.0f}s after a PF reset ({bounce})")
    kernel = info.get("kernel")
    if kernel:
        last = kernel[-1]
        lines.append(f"  {name}: kernel {_ago(last['time'])}: {last['line']}"
                     + (f" -> {last['hint']}" if last["hint"] else ""))
    return lines


def _failover_lines(status: Status) -> list[str]:
    last = status.get("last_failover")
    if not last:
        return ["\nlast failover: none recorded"]
    lines = [f"\nlast {last['type']}: {_ago(last['time'])} "
             f"({time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(last['time']))}), "
             f"{last['old_active'] or '-'} -> {last['new_active'] or '-'}: {last['reason']}"]
    check = status.get("last_check")
    if check and check["time"] >= last["time"]:
        verdict = "verified" if check["type"] == "failover_verified" else "UNVERIFIED"
        lines.append(f"  {verdict}: {check['reason']}")
    return lines


def _daemon_notes(status: Status) -> list[str]:
    lines = []
    if status.get("isolated"):
        lines.append("ALERT: bond isolated: no slave reaches the gateway")
    if status.get("probes") == "disabled":
        lines.append(f"NOTE: {UNMONITORED}")
    if waiting(status):
        lines.append(f"config not applied yet: {waiting(status)}")
    reconcile = status.get("reconcile")
    if reconcile:
        lines += _reconcile_lines(reconcile)
    faults = status.get("faults")
    if faults and faults.get("total") and faults["last"]:
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(faults["by_kind"].items()))
        lines.append(f"faults survived: {counts}; last: {faults['last']['error']}")
    for name, stats in (status.get("alerts") or {}).items():
        if stats.get("dropped") or stats.get("last_error"):
            lines.append(f"alert sink {name}: {stats.get('queued', 0)} queued, {stats.get('dropped', 0)} dropped, "
                         f"last error: {stats.get('last_error') or '-'}")
    return lines


def _reconcile_lines(rec: ReconcileStatus) -> list[str]:
    lines = []
    pause = rec.get("paused")
    if pause:
        until = time.strftime("%H:%M:%S", time.localtime(pause["until"])) if pause["until"] else "`bondctl resume`"
        lines.append(f"PAUSED {_ago(pause['since'])} until {until}: {pause['reason']} (no convergence)")
        if rec.get("drift_while_paused"):
            lines.append(f"  drift seen meanwhile: {rec['drift_while_paused']}")
    last = rec.get("last_repair")
    if last:
        lines.append(f"last repair: {_ago(last['time'])}, {last['why']}: {'; '.join(last['drift'])}")
    return lines


# --- events ------------------------------------------------------------------------------------

def event_line(e: EventDict) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["time"]))
    return f"{stamp}  {e['severity']:<8} {e['type']:<19} {_event_text(e)}"


def _event_text(e: EventDict) -> str:
    parts = []
    if slave := e.get("slave"):
        parts.append(slave)
    if e.get("old_active") or e.get("new_active"):
        parts.append(f"{e.get('old_active') or '-'} -> {e.get('new_active') or '-'}")
    if reason := e.get("reason"):
        parts.append(reason)
    text = ": ".join(parts)
    return text if e.get("details", {}).get("alerted", True) else f"{text} [not alerted: flapping]"
