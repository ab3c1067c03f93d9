"""What vfbondd tells operators: every event goes to the history and the alert sinks from here.

The flap limiter folds flapping for the alert sinks only: the history keeps every event (those held
back marked `alerted: false`), so a real failover is never lost from `bondctl events` because the
minute before it was busy. Neither a full disk nor a broken sink stops the supervisor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from vfbond.judge.flap import FlapLimiter
from vfbond.report.counters import Counters
from vfbond.report.followers import Followers
from vfbond.report.history import History
from vfbond.shared.events import Event
from vfbond.shared.faults import Faults

Publish = Callable[[Event], None]


class Reporter:
    def __init__(self, history: History, publish: Publish, flaps: FlapLimiter, faults: Faults,
                 followers: Followers | None = None, on_record: Callable[[], None] | None = None,
                 counters: Counters | None = None) -> None:
        self.history = history
        self.publish = publish
        self.flaps = flaps
        self.faults = faults
        self.followers = followers or Followers()
        # A restart must not reset what pollers count: daemon/lifecycle.py passes the persisted counts.
        self.counters = counters or Counters.open(None, history.last())
        self.on_record = on_record or (lambda: None)  # the metrics file is rewritten after each event

    def publish_to(self, publish: Publish) -> None:
        """Alert through `publish` from now on (a reload swapped the sinks)."""
        self.publish = publish

    def emit(self, event: Event) -> None:
        passed = self.flaps.filter(event)
        for out in passed:
            self._record(out)
        if not any(out is event for out in passed):
            self._remember(replace(event, details={**event.details, "alerted": False}))

    def flush_flaps(self) -> None:
        for summary in self.flaps.expire():
            self._record(summary)

    def _record(self, event: Event) -> None:
        self._remember(event)  # best-effort: the alert below matters more than the file
        with self.faults.contained("alert publish"):
            self.publish(event)

    def _remember(self, event: Event) -> None:
        with self.faults.contained("history write"):
            self.history.append(event)
        if self.counters.count(event):
            with self.faults.contained("move counters write"):
                self.counters.save()
        self.followers.push(event)  # what the history holds, as it is recorded
        self.on_record()
