"""README's config table states the defaults the dataclasses hold: a default changed in one place fails here."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from vfbond.config import (
    AlertConfig,
    BondConfig,
    Config,
    DaemonConfig,
    FailoverConfig,
    IPConfig,
    MetricsConfig,
    ProbeConfig,
    SnmpTarget,
    SyslogTarget,
)

README = Path(__file__).parents[2] / "README.md"
SECTIONS: dict[str, type[Any]] = {"bond": BondConfig, "failover": FailoverConfig, "probes": ProbeConfig,
                                  "alerts": AlertConfig, "daemon": DaemonConfig, "metrics": MetricsConfig}
REQUIRED = {"bond.slaves"}  # the reader demands them whatever the dataclass holds: README shows "—"
NOT_IN_YAML = {"source"}  # Config's record of the file it came from


def cells(row: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def table() -> list[list[str]]:
    """The rows of the table under "## Configuration", each [field, default, meaning]."""
    part = README.read_text(encoding="utf-8").split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    return [cells(line) for line in part.splitlines() if line.startswith("| `")]


def readme_defaults() -> dict[str, str]:
    """Field path -> the default README gives it. A row may name several fields of one section
    (`bond.updelay`, `bond.downdelay`; or `probes.interval_ms`, `timeout_ms`), with one default each
    or one for all."""
    found: dict[str, str] = {}
    for name_cell, default_cell, _ in table():
        names = re.findall(r"`([^`]+)`", name_cell)
        prefix = names[0].rpartition(".")[0]
        names = [n if "." in n or not prefix else f"{prefix}.{n}" for n in names]
        plain = re.sub(r"\s*\([^)]*\)", "", default_cell.replace("`", ""))  # "(true if targets given)"
        defaults = [d.strip() for d in plain.split(", ")]
        defaults = defaults * len(names) if len(defaults) == 1 else defaults
        assert len(defaults) == len(names), f"README row {name_cell}: {len(names)} fields, defaults {default_cell}"
        found.update(zip(names, defaults, strict=True))
    return found


def shown(value: Any) -> str:
    """A default as README writes it."""
    if value is None or value == IPConfig():
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if value == ():
        return "[]"
    return str(value)


def dataclass_defaults() -> dict[str, str]:
    found: dict[str, str] = {}
    for f in fields(Config):
        if f.name in SECTIONS:
            for sub in fields(SECTIONS[f.name]):
                path = f"{f.name}.{sub.name}"
                found[path] = "—" if path in REQUIRED else shown(sub.default)
        elif f.name not in NOT_IN_YAML:
            assert f.default is not MISSING
            found[f.name] = shown(f.default)
    return found


def test_readme_config_table_gives_every_field_with_the_dataclass_default() -> None:
    readme, schema = readme_defaults(), dataclass_defaults()
    assert readme.keys() == schema.keys(), f"README only: {readme.keys() - schema.keys()}, " \
                                           f"dataclass only: {schema.keys() - readme.keys()}"
    wrong = {path: (readme[path], schema[path]) for path in schema if readme[path] != schema[path]}
    assert not wrong, f"README default vs the dataclass's: {wrong}"


def test_readme_lists_the_fields_of_each_alert_target() -> None:
    """`alerts.syslog` and `alerts.snmp` list their keys inline: `{host, port, protocol: udp|tcp|tls, ...}`."""
    rows = {cell[0]: cell[2] for cell in table()}
    for name, target in (("`alerts.syslog`", SyslogTarget), ("`alerts.snmp`", SnmpTarget)):
        listed = re.search(r"\{([^}]*)\}", rows[name])
        assert listed, rows[name]
        keys = [k.strip().split(":")[0] for k in listed.group(1).split(",")]
        assert keys == [f.name for f in fields(target)], name
