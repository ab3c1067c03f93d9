"""README's event table (type, severity, journald MESSAGE_ID, SNMP notification) and its metric list
say what the code does: an event type, a MESSAGE_ID, a notification or a metric added, renamed or
changed in one place fails here. On failure the message carries the rows the code gives."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.core import Metric

from tests.unit.test_config_readme import cells
from tests.unit.test_metrics import status
from vfbond.poll import metrics
from vfbond.shared.events import SEVERITY, EventType
from vfbond.sinks.journald import MESSAGE_IDS
from vfbond.sinks.snmp import NOTIFICATIONS

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
IF_MIB = {EventType.SLAVE_DOWN: "IF-MIB `linkDown`", EventType.SLAVE_UP: "IF-MIB `linkUp`"}
SUFFIX = {"counter": "_total", "info": "_info"}  # the name a sample carries, as README writes it


def section(heading: str) -> str:
    parts = README.read_text(encoding="utf-8").split(f"\n## {heading}\n", 1)
    assert len(parts) == 2, f"README.md has no section '## {heading}'"
    return parts[1].split("\n## ", 1)[0]


def mib_notifications() -> dict[int, str]:
    """vfbondNotifications member number -> its name, from the MIB the NMS loads."""
    text = (ROOT / "mib" / "VFBOND-MIB.txt").read_text(encoding="utf-8")
    found = re.findall(r"^(\w+) NOTIFICATION-TYPE.*?::= \{ vfbondNotifications (\d+) \}", text, flags=re.M | re.S)
    return {int(number): name for name, number in found}


def code_rows() -> list[list[str]]:
    names = mib_notifications()
    return [[f"`{kind.value}`", f"{SEVERITY[kind].name.lower()} ({int(SEVERITY[kind])})", f"`{MESSAGE_IDS[kind]}`",
             IF_MIB.get(kind) or f"`{names[NOTIFICATIONS[kind]]}` ({NOTIFICATIONS[kind]})"]
            for kind in EventType]


def readme_rows() -> list[list[str]]:
    """The rows of the event table under "## Logging", each [type, severity, MESSAGE_ID, SNMP]."""
    return [cells(line) for line in section("Logging").splitlines() if line.startswith("| `")]


def test_readme_lists_every_event_type_with_its_severity_message_id_and_notification() -> None:
    expected = code_rows()
    shown = "\n".join("| " + " | ".join(row) + " |" for row in expected)
    assert readme_rows() == expected, f"README's Logging table should read, in EventType's order:\n{shown}"


def test_every_journalctl_line_names_a_message_id_of_the_event_it_says() -> None:
    """`journalctl MESSAGE_ID=<id>  # failover`: the id is that event's."""
    lines = re.findall(r"^journalctl .*MESSAGE_ID=(\w+).*# (\w+)", section("Logging"), flags=re.M)
    assert lines, "README's Logging section has no journalctl MESSAGE_ID= line"
    wrong = [(mid, kind) for mid, kind in lines if MESSAGE_IDS.get(EventType(kind)) != mid]
    assert not wrong, f"MESSAGE_ID of another event: {wrong}"


def readme_name(family: Metric) -> str:
    return family.name + SUFFIX.get(family.type, "")


def test_readme_metric_table_names_every_metric_vfbondd_exports_and_no_other() -> None:
    exported = {readme_name(f) for f in metrics.families(status(probes="enabled"), {})}
    rows = [cells(line)[0] for line in section("Prometheus").splitlines() if line.startswith("| `vfbond_")]
    listed = {name for first in rows for name in re.findall(r"\bvfbond_\w+", first)}
    assert listed == exported, f"README only: {sorted(listed - exported)}, exported only: {sorted(exported - listed)}"
