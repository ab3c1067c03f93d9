"""Metrics: node_exporter's textfile and the HTTP scrape endpoint."""

from __future__ import annotations

from typing import Any

from vfbond.config import checks
from vfbond.config.reader import Reader
from vfbond.config.schema import MetricsConfig


def read_metrics(r: Reader, raw: Any) -> MetricsConfig:
    sect = r.section(raw, "metrics", MetricsConfig)
    return MetricsConfig(
        textfile_dir=sect.get("textfile_dir", str, checks.absolute,
                              "give node_exporter's --collector.textfile.directory as an absolute path, "
                              "e.g. /var/lib/node_exporter/textfile_collector"),
        interval_s=sect.get("interval_s", int, lambda v: None if 1 <= v <= 3600 else f"{v} is not 1..3600 seconds",
                            "use 1..3600 seconds; {default} is the default (the file is also written on every "
                            "event)"),
        http_port=sect.get("http_port", int, checks.port,
                           "use a free TCP port, e.g. 9862, or remove http_port: for no HTTP endpoint"),
        http_address=sect.get("http_address", str, checks.ip,
                              "give an address of this host to listen on, e.g. {default} or 0.0.0.0"))
