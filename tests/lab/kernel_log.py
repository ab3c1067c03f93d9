"""The kernel's log from a mark on, and who moved the bond's active slave according to it.

A test that must show vfbondd (not the kernel's own MII poll) failed the bond over cannot do it
with a time bound the kernel's tick can also meet. The kernel's log orders the two: bonding prints
"making interface the new active one" when anyone moves the active slave, and "link status
definitely down" when its MII poll sees the old one down. vfbondd acted first when the first line
comes before the second; the kernel did when it comes after. Read from /dev/kmsg after a mark, so
lines an earlier test logged in the same boot never count.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

MOVED = "making interface the new active one"
MII_DOWN = "link status definitely down"


@dataclass(frozen=True)
class Line:
    usec: int  # the kernel's monotonic timestamp, microseconds
    text: str


class KernelLog:
    """Kernel log records written after construction (the mark)."""

    def __init__(self) -> None:
        self._fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self._fd, 0, os.SEEK_END)
        self._lines: list[Line] = []

    def lines(self) -> list[Line]:
        while True:
            try:
                record = os.read(self._fd, 8192).decode(errors="replace")
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # overwritten before read: skip to the next record
                    continue
                if exc.errno == errno.EAGAIN:
                    return self._lines
                raise
            header, _, text = record.partition(";")
            self._lines.append(Line(int(header.split(",")[2]), text.split("\n", 1)[0]))

    def has(self, fragment: str) -> bool:
        return any(fragment in line.text for line in self.lines())

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> KernelLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def moved_by(log: KernelLog, bond: str, old: str, new: str) -> str:
    """"vfbondd" when `new` was made active before the kernel's MII poll saw `old` down, "kernel"
    when after it, "nobody" when `new` was never made active since the mark. The log's own order
    (its sequence numbers) decides, not a clock."""
    lines = [line.text for line in log.lines()]
    moved = _index(lines, f"{bond}: (slave {new}): {MOVED}")
    if moved is None:
        return "nobody"
    down = _index(lines, f"{bond}: (slave {old}): {MII_DOWN}")
    return "vfbondd" if down is None or moved < down else "kernel"


def _index(lines: list[str], fragment: str) -> int | None:
    return next((i for i, text in enumerate(lines) if fragment in text), None)
