"""Serves vfbondd's metrics to Prometheus: a node_exporter textfile, rewritten after every event and
every interval_s, and an optional HTTP endpoint. Neither may hold up or stop the supervisor.

The status is always read on the event loop, the one place it is consistent; only the rendering
and the file write (a slow or full disk) and the HTTP server run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server, write_to_textfile

from vfbond.config import MetricsConfig
from vfbond.poll import metrics
from vfbond.shared.faults import Faults
from vfbond.shared.status import Status

SCRAPE_TIMEOUT = 5.0  # seconds an HTTP scrape waits for the loop to read the status


class Exporter:
    def __init__(self, config: MetricsConfig, bond: str, status: Callable[[], Status], faults: Faults) -> None:
        self.config = config
        self.path = Path(config.textfile_dir) / f"vfbond_{bond}.prom" if config.textfile_dir else None
        self.status = status
        self.faults = faults
        self.rtt = metrics.RttHistograms()
        self._changed = asyncio.Event()
        self._server: WSGIServer | None = None

    def changed(self) -> None:
        """An event was recorded: the file is rewritten once the loop is free (a burst, once)."""
        self._changed.set()

    def snapshot(self) -> metrics.Snapshot:
        return self.status(), self.rtt.snapshot()

    def start(self) -> None:
        """The HTTP endpoint, if configured; a port in use is counted as a fault, not fatal."""
        if self.config.http_port is None:
            return
        loop = asyncio.get_running_loop()

        async def read() -> metrics.Snapshot:
            return self.snapshot()

        def from_loop() -> metrics.Snapshot:  # in the server's thread
            return asyncio.run_coroutine_threadsafe(read(), loop).result(SCRAPE_TIMEOUT)

        with self.faults.contained("metrics http endpoint"):
            self._server, _ = start_http_server(self.config.http_port, self.config.http_address,
                                                registry=metrics.registry(from_loop))

    async def run(self, path: Path) -> None:
        """Write the textfile now, after each change and every interval_s; never returns."""
        while True:
            self._changed.clear()
            with self.faults.contained("metrics textfile write"):
                await self.write(path)
            # asyncio.timeout, not wait_for: 3.11's wait_for drops a cancel that meets the event in one
            # step of the loop (the "vfbondd stopped" event), and vfbondd then never stopped.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.interval_s):
                    await self._changed.wait()

    async def write(self, path: Path) -> None:
        snapshot = self.snapshot()
        try:
            # tmp file beside it, then rename: node_exporter never reads half a file
            await asyncio.to_thread(write_to_textfile, str(path), metrics.registry(lambda: snapshot))
        except OSError as exc:  # a full disk, a missing directory: counted, tried again at the next write
            self.faults.record("metrics textfile write", f"{path}: {exc.strerror or exc}")

    async def close(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()
