"""Load vfbond.yaml: the file's bytes, then each section's reader, into one `Config`.

Every problem is reported at once, and nothing is touched when the file is invalid: callers only
act on a returned `Config`.
"""

from __future__ import annotations

from pathlib import Path

from vfbond import paths
from vfbond.config import checks, yaml_source
from vfbond.config.alerts import read_alerts
from vfbond.config.bond import read_bond
from vfbond.config.daemon import read_daemon, read_failover
from vfbond.config.metrics import read_metrics
from vfbond.config.probes import read_probes
from vfbond.config.problems import ConfigError, Problem
from vfbond.config.reader import Reader, keys
from vfbond.config.schema import BACKENDS, Config

DEFAULT_PATH = Path(paths.CONFIG)


def parse(text: str, file: str = "<string>", *, host_checks: bool = True) -> Config:
    doc = yaml_source.read(text, file)
    raw = doc.data
    r = Reader(file, doc.lines, host_checks)
    r.problems += doc.problems
    top = r.section(raw if raw is not None else {}, "", Config, tuple(k for k in keys(Config) if k != "source"))
    if r.problems and not top.raw:  # not a mapping at all: every other report would only repeat that
        raise ConfigError(r.problems)
    if "bond" not in top.raw:
        r.problem("bond", "missing", "add a bond: section with two slaves")
    config = Config(
        bond=read_bond(r, top.raw.get("bond")),
        failover=read_failover(r, top.raw.get("failover")),
        probes=read_probes(r, top.raw.get("probes")),
        alerts=read_alerts(r, top.raw.get("alerts")),
        daemon=read_daemon(r, top.raw.get("daemon")),
        metrics=read_metrics(r, top.raw.get("metrics")),
        backend=top.choice("backend", BACKENDS),
        ifcfg_dir=top.get("ifcfg_dir", str, checks.absolute, "give the absolute path, e.g. {default}"),
        source=file,
    )
    if r.problems:
        raise ConfigError(r.problems)
    return config


def load(path: Path | str = DEFAULT_PATH, *, host_checks: bool = True) -> Config:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, "<file>", exc.strerror or str(exc),
                                   "create it (see examples/vfbond.yaml) or pass --config PATH")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError([Problem(str(path), line, "<file>", f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
                                   "save it as UTF-8 (e.g. iconv -t UTF-8), or check the path names the vfbond "
                                   "YAML file")]) from None
    return parse(text, str(path), host_checks=host_checks)
