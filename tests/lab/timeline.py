"""A failover's timeline from the kernel's side, for the benchmark.

Recorders run as separate processes that sleep in recv(), never a Python poll competing with the
daemon for the emulated CPU:
  - `ip -ts -d monitor link` per namespace: each netlink link message, stamped on receipt
    (carrier loss, a PF or switch port going down, a slave becoming the bond's ACTIVE one);
  - `tcpdump -tt -e` per VF: packets with the kernel's own capture timestamps (the first gratuitous
    ARP / unsolicited NA leaving the new VF, the first reply from the gateway arriving on it).
Both clocks are the realtime clock; the parsing is pure (`parse_links`, `parse_packets`,
`failover_times`) and unit-tested.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# "Deleted " opens the message of a link that is gone (a VF hot-unplugged): its record, not detail
# lines of the one before it
_TS = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\] (?:Deleted )?(?:\d+: )?([^:@\s]+)[@:]")
_PKT = re.compile(r"^(\d+\.\d{6}) ")


@dataclass(frozen=True)
class LinkRecord:
    t: float
    ns: str
    name: str
    text: str

    @property
    def carrier(self) -> bool:
        return "NO-CARRIER" not in self.text and "LOWER_UP" in self.text

    @property
    def admin_down(self) -> bool:
        return "state DOWN" in self.text and ",UP" not in self.text.split(">")[0]

    @property
    def bond_active(self) -> bool:
        return "bond_slave state ACTIVE" in self.text

    @property
    def deleted(self) -> bool:
        return self.text.split("] ", 1)[-1].startswith("Deleted ")


@dataclass(frozen=True)
class Packet:
    t: float
    dev: str
    text: str


def parse_links(text: str, ns: str) -> list[LinkRecord]:
    """`ip -ts -d monitor link` output (UTC) -> records; detail lines join their message."""
    records: list[LinkRecord] = []
    for line in text.splitlines():
        m = _TS.match(line)
        if m:
            t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
            records.append(LinkRecord(t + int(m.group(2)) / 1e6, ns, m.group(3), line))
        elif records and line.startswith((" ", "\t")):
            last = records[-1]
            records[-1] = LinkRecord(last.t, last.ns, last.name, f"{last.text}\n{line}")
    return records


def parse_packets(text: str, dev: str) -> list[Packet]:
    return [Packet(float(m.group(1)), dev, line) for line in text.splitlines() if (m := _PKT.match(line))]


def is_announcement(p: Packet, mac: str, ip4: str) -> bool:
    """A gratuitous ARP or an unsolicited neighbour advertisement sent from `mac`."""
    if p.text.split(" ", 2)[1].lower() != mac.lower():
        return False
    return (f"who-has {ip4} tell {ip4}" in p.text or f"Reply {ip4} is-at" in p.text
            or "neighbor advertisement" in p.text)


def is_gateway_reply(p: Packet, gw4: str) -> bool:
    return f"{gw4} > " in p.text and "ICMP echo reply" in p.text


def failover_times(links: list[LinkRecord], packets: list[Packet], since: float, until: float, cause: str, old: str,
                   new: str, new_mac: str, ip4: str, gw4: str) -> dict[str, float | None]:
    """Milliseconds from the cause (PF reset / switch port down) to each step, None where not seen.

    Only records in [since, until] count: the recordings span every trial, and a step missing from
    this one must not be filled in from the next trial (a later reply would read as a 15 s outage)."""
    def first(items, pred, after):  # type: ignore[no-untyped-def]
        return next((x.t for x in items if after <= x.t <= until and pred(x)), None)

    t0 = first(links, lambda r: r.name == cause and r.admin_down, since)
    if t0 is None:
        return {"cause": None}
    steps = {
        "carrier_loss": first(links, lambda r: r.name == old and not r.carrier, t0),
        "active": first(links, lambda r: r.name == new and r.bond_active, t0),
    }
    # The gratuitous ARP goes out while bonding makes the slave active, before the netlink notice
    # of the new state: look for it from the cause. A reply counts only once the slave is active.
    steps["announce"] = first(packets, lambda p: p.dev == new and is_announcement(p, new_mac, ip4), t0)
    steps["reply"] = first(packets, lambda p: p.dev == new and is_gateway_reply(p, gw4), steps["active"] or t0)
    return {"cause": 0.0, **{k: None if v is None else (v - t0) * 1000 for k, v in steps.items()}}


class Timeline:
    """The recorders of one benchmark run; files in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.monitors: dict[str, Path] = {}
        self.captures: dict[str, Path] = {}

    def _start(self, argv: list[str], out: Path) -> None:
        with out.open("wb") as f:
            self.procs.append(subprocess.Popen(argv, stdout=f, stderr=subprocess.DEVNULL,
                                               env={**os.environ, "TZ": "UTC"}))

    def monitor(self, ns: str | None) -> None:
        out = self.dir / f"monitor-{ns or 'root'}.txt"
        self._start(["ip", *(["-n", ns] if ns else []), "-ts", "-d", "monitor", "link"], out)
        self.monitors[ns or "root"] = out

    def capture(self, dev: str, ns: str | None = None) -> None:
        out = self.dir / f"capture-{dev}.txt"
        self._start([*(["ip", "netns", "exec", ns] if ns else []), "tcpdump", "-i", dev, "-tt", "-e", "-n", "-l",
                     "-U", "-Q", "inout", "arp or icmp or (icmp6 and ip6[40] == 136)"], out)
        self.captures[dev] = out

    def links(self) -> list[LinkRecord]:
        records = [r for ns, path in self.monitors.items() for r in parse_links(path.read_text(errors="replace"), ns)]
        return sorted(records, key=lambda r: r.t)

    def packets(self) -> list[Packet]:
        found = [p for dev, path in self.captures.items() for p in parse_packets(path.read_text(errors="replace"), dev)]
        return sorted(found, key=lambda p: p.t)

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(10)
