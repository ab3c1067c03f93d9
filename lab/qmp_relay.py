"""Host side of the lab's "host" role: runs QMP commands the guest asks for.

A guest cannot reach QEMU's monitor, yet a cable pull on a PF (`set_link pf0 off`) is done there.
The guest writes ``<dir>/<id>.json`` ({"execute": ..., "arguments": ...}, renamed into place) in
the results dir it shares with the host; this relay runs it on QEMU's QMP socket and writes
``<id>.reply`` ({"return": ...} or {"error": "..."}).  Only the commands below are relayed: the
guest must not be able to stop or reconfigure the machine it runs in.

    python lab/qmp_relay.py QMP_SOCKET REQUEST_DIR
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from qemu.qmp import ExecuteError, QMPClient

ALLOWED = {"set_link", "query-status"}
POLL_SECONDS = 0.02  # a request waits at most this long; a host-side poll costs the guest nothing


async def connect(socket: str) -> QMPClient:
    qmp = QMPClient("vfbond-lab")
    while True:  # QEMU creates the socket a moment after it starts
        try:
            await qmp.connect(socket)
            return qmp
        except Exception:  # noqa: BLE001 - not there yet; any other fault shows on the next try
            await asyncio.sleep(0.2)


async def answer(qmp: QMPClient, request: Path) -> None:
    reply: dict[str, object]
    cmd: dict[str, object] = {}
    try:
        cmd = json.loads(request.read_text())
        if cmd.get("execute") not in ALLOWED:
            raise ValueError(f"command {cmd.get('execute')!r} is not relayed (allowed: {sorted(ALLOWED)})")
        reply = {"return": await qmp.execute(str(cmd["execute"]), cmd.get("arguments") or {})}
    except (ExecuteError, ValueError, json.JSONDecodeError) as exc:
        reply = {"error": str(exc)}
    tmp = request.with_suffix(".tmp")
    tmp.write_text(json.dumps(reply))
    os.replace(tmp, request.with_suffix(".reply"))
    request.unlink()
    print(f"{request.stem}: {cmd} -> {reply}", flush=True)


async def main(socket: str, requests: str) -> None:
    qmp = await connect(socket)
    print(f"connected to {socket}; serving {requests}", flush=True)
    folder = Path(requests)
    while True:
        for request in sorted(folder.glob("*.json")):
            await answer(qmp, request)
        await asyncio.sleep(POLL_SECONDS)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
