"""What vfbondd tells operators: every event goes to the history and the alert sinks from here.

Flapping is folded by the flap limiter, and neither a full disk nor a broken sink stops the supervisor.
"""

from __future__ import annotations

from collections.abc import Callable

from .events import Event, History
from .faults import Faults
from .flap import FlapLimiter

Publish = Callable[[Event], None]


class Reporter:
    def __init__(self, history: History, publish: Publish, flaps: FlapLimiter, faults: Faults) -> None:
        self.history = history
        self.publish = publish
        self.flaps = flaps
        self.faults = faults

    def emit(self, event: Event) -> None:
        for passed in self.flaps.filter(event):
            self._record(passed)

    def flush_flaps(self) -> None:
        for summary in self.flaps.expire():
            self._record(summary)

    def _record(self, event: Event) -> None:
        with self.faults.contained("history write"):
            self.history.append(event)  # best-effort: the alert below matters more than the file
        with self.faults.contained("alert publish"):
            self.publish(event)
