"""udev.settled: a returned VF is enslaved only once udev has named it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from vfbond.kernel import udev


async def test_no_udev_means_the_kernel_name_is_final(tmp_path: Path) -> None:
    assert await udev.settled(7, timeout=0.01, root=tmp_path)


async def test_waits_for_the_database_entry(tmp_path: Path) -> None:
    (tmp_path / "run/udev/data").mkdir(parents=True)
    (tmp_path / "run/udev/control").touch()
    waiting = asyncio.create_task(udev.settled(7, timeout=5, root=tmp_path))
    await asyncio.sleep(0.2)
    assert not waiting.done(), "settled before udev wrote the device's entry"
    (tmp_path / "run/udev/data/n7").touch()
    assert await asyncio.wait_for(waiting, 1)


async def test_gives_up_after_the_timeout(tmp_path: Path) -> None:
    (tmp_path / "run/udev/data").mkdir(parents=True)
    (tmp_path / "run/udev/control").touch()
    assert not await udev.settled(7, timeout=0.1, root=tmp_path)
