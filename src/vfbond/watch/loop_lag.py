"""How late vfbondd's own event loop runs: a supervisor that is held up (a kernel call that blocks,
a slow handler) answers nothing meanwhile, not the probes, the control socket or the watchdog.

A timer asks to wake every `interval`; how much later than asked it woke is the lag. The last
`window` samples give the percentiles for status and the metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from vfbond.shared.status import LoopLagStatus

INTERVAL = 0.25  # four wake-ups a second: cheap on an emulated CPU, fine enough for a 50 ms budget
WINDOW = 240  # samples: the last minute


class LoopLag:
    def __init__(self, interval: float = INTERVAL, window: int = WINDOW,
                 on_sample: Callable[[float], None] | None = None) -> None:
        self.interval = interval
        self.samples: deque[float] = deque(maxlen=window)
        self.worst = 0.0  # since start
        self.on_sample = on_sample  # the metrics' histogram

    async def run(self) -> None:
        while True:
            asked = time.monotonic() + self.interval
            await asyncio.sleep(self.interval)
            self.add(max(0.0, time.monotonic() - asked))

    def add(self, lag: float) -> None:
        self.samples.append(lag)
        self.worst = max(self.worst, lag)
        if self.on_sample is not None:
            self.on_sample(lag)

    def percentile(self, q: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def status(self) -> LoopLagStatus:
        return {"p50_ms": round(self.percentile(0.5) * 1000, 1), "p99_ms": round(self.percentile(0.99) * 1000, 1),
                "max_ms": round(max(self.samples, default=0.0) * 1000, 1), "worst_ms": round(self.worst * 1000, 1),
                "window_s": round(len(self.samples) * self.interval)}
