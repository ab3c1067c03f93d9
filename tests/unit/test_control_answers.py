"""The control socket answers every request, then closes: bad JSON, bad arguments, a request too long,
a stream that fails before its first item. A peer never sees the connection just drop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from vfbond.ctl.control import LINE_LIMIT, ControlServer
from vfbond.report.followers import Followers
from vfbond.shared import exitcodes


async def events(args: dict[str, Any]) -> Any:
    return list(range(int(args.get("count", 3))))  # int(1e999) raises OverflowError, as daemon's handler


async def broken(args: dict[str, Any]) -> Any:
    raise KeyError("a bug in a handler")


def counted(args: dict[str, Any]) -> AsyncIterator[Any]:
    async def items() -> AsyncIterator[Any]:
        for i in range(int(args.get("count", 2))):  # fails on the first anext, before any item
            yield i
    return items()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    path = str(tmp_path / "control.sock")
    followers = Followers()
    control = ControlServer(path, {"events": events, "broken": broken},
                            streams={"counted": counted, "follow": lambda args: followers.follow([])})
    await control.start()
    yield path
    await control.close()


async def exchange(path: str, sent: bytes, read_for: float = 5.0) -> list[dict[str, Any]]:
    """Every line the server answers `sent` with, until it closes the connection."""
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(sent)
    if not sent.endswith(b"\n"):
        writer.write_eof()  # a request without its newline ends at EOF
    await writer.drain()
    got = []
    try:
        while line := await asyncio.wait_for(reader.readline(), read_for):
            got.append(json.loads(line))
    except ConnectionResetError:  # the server closed with our unread request in its buffer: after its answer
        pass
    writer.close()
    return got


def usage_error(answers: list[dict[str, Any]], *words: str) -> str:
    assert len(answers) == 1, answers
    (answer,) = answers
    assert answer["ok"] is False and answer["code"] == exitcodes.USAGE, answer
    assert all(word in answer["error"] for word in words), answer["error"]
    return str(answer["error"])


@pytest.mark.parametrize(("sent", "words"), [
    (b"{not json\n", ["not JSON"]),
    (b"[1, 2]\n", ["cmd"]),
    (b'{"args": {}}\n', ["cmd"]),
    (b'{"cmd": 7}\n', ["cmd"]),
    (b'{"cmd": "nosuch"}\n', ["unknown command 'nosuch'", "events", "follow"]),
    (b'{"cmd": "events", "args": [1]}\n', ["args", "object"]),
    (b'{"cmd": "events", "args": "count=5"}\n', ["args", "object"]),
    (b'{"cmd": "events", "args": {"count": 1e999}}\n', ["1e999"]),
    (b'{"cmd": "events", "args": {"count": NaN}}\n', ["NaN"]),
    (b'{"cmd": "events", "args": {"count": "many"}}\n', ["events", "many"]),
    (b"\xff\xfe\n", ["not JSON"]),
    (b"[" * 5000 + b"\n", ["not JSON"]),
])
async def test_a_bad_request_gets_a_usage_error_naming_what_is_wrong(server: str, sent: bytes,
                                                                     words: list[str]) -> None:
    usage_error(await exchange(server, sent), *words)


async def test_a_request_too_long_is_answered_then_closed(server: str) -> None:
    sent = json.dumps({"cmd": "events", "args": {"pad": "x" * 70_000}}).encode() + b"\n"
    usage_error(await exchange(server, sent), "request too long", f"{LINE_LIMIT} bytes max")


@pytest.mark.parametrize("count", ["1e999", "-1e999", '"many"', "[]"])
async def test_a_stream_that_fails_before_its_first_item_is_answered(server: str, count: str) -> None:
    usage_error(await exchange(server, b'{"cmd": "counted", "args": {"count": %s}}\n' % count.encode()),
                "counted")


async def test_a_stream_still_streams_and_ends_when_its_items_do(server: str) -> None:
    got = await exchange(server, b'{"cmd": "counted", "args": {"count": 3}}\n')
    assert got == [{"ok": True, "data": i} for i in range(3)]


async def test_a_bug_in_a_handler_is_answered_as_a_failure(server: str) -> None:
    (answer,) = await exchange(server, b'{"cmd": "broken"}\n')
    assert answer["ok"] is False and answer["code"] == exitcodes.FAILED
    assert answer["error"] == "vfbondd failed on broken: KeyError: 'a bug in a handler'"


async def test_good_requests_still_work(server: str) -> None:
    assert await exchange(server, b'{"cmd": "events", "args": {"count": 2}}\n') == [{"ok": True, "data": [0, 1]}]
    assert await exchange(server, b'{"cmd": "events", "args": null}\n') == [{"ok": True, "data": [0, 1, 2]}]
    assert await exchange(server, b'{"cmd": "events"}') == [{"ok": True, "data": [0, 1, 2]}]  # no newline, then EOF
