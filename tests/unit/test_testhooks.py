"""The test hooks exist only when VFBOND_TEST_HOOKS=1: a production vfbondd cannot be told to break."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vfbond.daemon.testhooks import FaultHooks

BUILD = """
import asyncio, sys
from vfbond.config import parse
from vfbond.daemon.lifecycle import Daemon

async def main():
    daemon = Daemon(parse({config!r}), "vfbond.yaml")
    print("test-fault" in daemon.control.handlers, "vfbond.daemon.testhooks" in sys.modules)

asyncio.run(main())
"""


@pytest.mark.parametrize(("hooks", "seen"), [(None, "False False"), ("0", "False False"), ("1", "True True")])
def test_the_hooks_are_imported_and_served_only_with_vfbond_test_hooks(tmp_path: Path, hooks: str | None,
                                                                       seen: str) -> None:
    config = ('bond: {slaves: [{label: sriov0, mac: "fa:16:3e:00:00:01"}, {label: sriov1, mac: "fa:16:3e:00:00:02"}]}\n'
              f"backend: netlink\ndaemon: {{socket: {tmp_path}/ctl.sock, state_dir: {tmp_path}}}\n")
    env = {k: v for k, v in os.environ.items() if k != "VFBOND_TEST_HOOKS"}
    if hooks is not None:
        env["VFBOND_TEST_HOOKS"] = hooks
    done = subprocess.run([sys.executable, "-c", BUILD.format(config=config)], env=env, capture_output=True, text=True,
                          check=True)
    assert done.stdout.split("\n")[-2] == seen


async def test_each_armed_handler_fault_breaks_one_link_event() -> None:
    hooks, seen = FaultHooks(), []

    async def observe(ob: object) -> None:
        seen.append(ob)

    hooked = hooks.observing(observe)  # type: ignore[arg-type]
    await hooks.test_fault({})
    await hooks.test_fault({"fault": "handler"})
    for ob in ("first", "second"):
        with pytest.raises(RuntimeError, match="fault injected by the test hook"):
            await hooked(ob)  # type: ignore[arg-type]
    await hooked("third")  # type: ignore[arg-type]
    assert seen == ["third"]


async def test_an_apply_pauses_at_the_armed_stage_until_resumed() -> None:
    hooks = FaultHooks()
    await hooks.apply_gate("planned")  # nothing armed: passes
    await hooks.test_fault({"fault": "pause-apply", "at": "applied"})
    await hooks.apply_gate("planned")  # another stage: passes
    paused = asyncio.create_task(hooks.apply_gate("applied"))
    await asyncio.sleep(0.01)
    assert not paused.done()
    await hooks.test_fault({"fault": "resume"})
    await asyncio.wait_for(paused, 1)
    await hooks.apply_gate("applied")  # disarmed once passed
