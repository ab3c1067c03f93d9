"""The loop-lag monitor sees a handler that holds the event loop."""

import asyncio
import time

from vfbond.watch.loop_lag import LoopLag


async def test_a_blocking_call_on_the_loop_shows_as_lag() -> None:
    lag = LoopLag(interval=0.01)
    task = asyncio.create_task(lag.run())
    await asyncio.sleep(0.05)
    time.sleep(0.2)  # what a send the kernel holds does to the loop
    await asyncio.sleep(0.05)
    task.cancel()
    status = lag.status()
    assert status["max_ms"] >= 150 and status["worst_ms"] >= 150
    assert status["p50_ms"] < 50  # one bad sample, not a slow loop


def test_percentiles_of_a_window() -> None:
    lag = LoopLag(window=100)
    for i in range(100):
        lag.add(i / 1000)
    assert lag.percentile(0.5) == 0.05 and lag.percentile(0.99) == 0.099
