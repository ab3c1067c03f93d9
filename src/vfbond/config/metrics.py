"""Metrics: node_exporter's textfile and the HTTP scrape endpoint."""

from __future__ import annotations

from typing import Any

from vfbond.config import checks
from vfbond.config.reader import Reader
from vfbond.config.schema import MetricsConfig


def read_metrics(r: Reader, raw: Any) -> MetricsConfig:
    sect = r.section(raw, "metrics", ("textfile_dir", "interval_s", "http_port", "http_address"))
    return MetricsConfig(
        textfile_dir=r.get(sect, "metrics", "textfile_dir", str, None, checks.absolute,
                           "give node_exporter's --collector.textfile.directory as an absolute path, "
                           "e.g. /var/lib/node_exporter/textfile_collector"),
        interval_s=r.get(sect, "metrics", "interval_s", int, 15,
                         lambda v: None if 1 <= v <= 3600 else f"{v} is not 1..3600 seconds",
                         "use 1..3600 seconds; 15 is the default (the file is also written on every event)"),
        http_port=r.get(sect, "metrics", "http_port", int, None, checks.port,
                        "use a free TCP port, e.g. 9862, or remove http_port: for no HTTP endpoint"),
        http_address=r.get(sect, "metrics", "http_address", str, "127.0.0.1", checks.ip,
                           "give an address of this host to listen on, e.g. 127.0.0.1 or 0.0.0.0"))
