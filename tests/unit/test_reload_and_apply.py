"""Reload builds a new running set beside the running one; an apply is retried until it holds (that every
control request gets an answer: test_control_answers.py). Fakes stand in for the backend and the kernel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vfbond.bond_model import PlanError, SlaveNotFound
from vfbond.config import parse
from vfbond.configure import applier as applier_mod
from vfbond.configure.applier import Applier
from vfbond.configure.apply import Outcome
from vfbond.daemon.wiring import RunningSet, build_beside, make_alerts, restart_needed
from vfbond.sinks import Dispatcher

CONFIG = """
bond:
  slaves:
    - {label: sriov0, mac: "fa:16:3e:00:00:01"}
    - {label: sriov1, mac: "fa:16:3e:00:00:02"}
backend: netlink
"""


class FakeSink:
    name = "fake"

    def __init__(self) -> None:
        self.closed = False

    async def send(self, event) -> None:  # noqa: ANN001
        pass

    async def close(self) -> None:
        self.closed = True


def self_signed_pem() -> bytes:
    """A real CA certificate: the config check reads the file (PEM, at least one certificate)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vfbond test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


async def test_a_reload_whose_sinks_cannot_be_built_leaves_the_running_set_untouched(tmp_path: Path) -> None:
    old_config = parse(CONFIG)
    sink = FakeSink()
    old = RunningSet(old_config, Dispatcher([sink], 10), None, Applier(old_config, None))  # type: ignore[arg-type]
    ca = tmp_path / "ca.pem"
    ca.write_bytes(self_signed_pem())  # there when the config is read, gone when the sink is built
    new = parse(CONFIG + f"alerts:\n  syslog:\n    - {{host: 127.0.0.1, protocol: tls, ca_file: {ca}}}\n")
    ca.unlink()
    with pytest.raises(OSError):
        await build_beside(new, old, None, lambda *a: None, lambda _t: None, check_plan=False)  # type: ignore[arg-type]
    assert not sink.closed


async def test_a_reload_whose_plan_fails_closes_what_it_built_and_keeps_the_old(monkeypatch) -> None:
    old_config = parse(CONFIG)
    built: list[FakeSink] = []

    def build_sink(spec, **_):  # noqa: ANN001, ANN003, ANN202
        built.append(FakeSink())
        return built[-1]

    async def no_vf(self, dry_run=False):  # noqa: ANN001, ANN202
        raise PlanError("bond.slaves: no interface matches sriov1")

    monkeypatch.setattr("vfbond.sinks.build_sink", build_sink)
    monkeypatch.setattr(Applier, "apply", no_vf)
    old = RunningSet(old_config, make_alerts(old_config), None, Applier(old_config, None))  # type: ignore[arg-type]
    new = parse(CONFIG + "alerts:\n  queue_size: 5\n  syslog: [{host: 192.0.2.1}]\n")
    with pytest.raises(PlanError):
        await build_beside(new, old, None, lambda *a: None, lambda _t: None)  # type: ignore[arg-type]
    journal, syslog = built  # the journal's sink is shared, not rebuilt; the new server's is closed
    assert syslog.closed and not journal.closed
    assert [queue.sink for queue in old.alerts.queues] == [journal] and old.alerts.queues[0].size == 10 ** 3


def test_restart_needed_names_the_daemon_settings_only() -> None:
    old = parse(CONFIG)
    new = parse(CONFIG + "daemon: {socket: /run/x.sock}\nalerts: {flap_limit: 3}\nifcfg_dir: /tmp/x\n")
    assert restart_needed(old, new) == ["daemon.socket"]


async def test_an_apply_is_retried_until_the_vf_appears_and_a_kick_cuts_the_wait(monkeypatch) -> None:
    monkeypatch.setattr(applier_mod, "RETRY_FIRST", 30.0)  # only a kick can make this test finish in time
    attempts: list[str] = []
    present = asyncio.Event()

    async def apply(self, dry_run=False):  # noqa: ANN001, ANN202
        attempts.append("try")
        if not present.is_set():
            raise SlaveNotFound("bond.slaves: no interface matches sriov1", "sriov1 fa:16:3e:00:00:02")
        return Outcome(None, [])  # type: ignore[arg-type]

    monkeypatch.setattr(Applier, "apply", apply)
    said: list[str] = []
    conv = Applier(parse(CONFIG), None, on_waiting=said.append)  # type: ignore[arg-type]
    task = asyncio.create_task(conv.until_applied())
    await asyncio.sleep(0.1)
    assert conv.waiting == "waiting for sriov1 fa:16:3e:00:00:02" and said == [conv.waiting]
    present.set()
    conv.kick()
    await asyncio.wait_for(task, 2)
    assert conv.waiting is None and len(attempts) == 2



async def test_an_apply_waits_for_the_kernels_answer_to_an_armed_switch_before_its_first_request(
        monkeypatch) -> None:
    """Until the kernel has answered an armed switch (seconds on an igbvf PF reset) a read shows the
    bond halfway through it: no plan is made on that. A reload's new applier keeps the same wait."""
    answered = asyncio.Event()
    asked: list[str] = []

    async def quiet() -> None:
        asked.append("quiet")
        await answered.wait()

    async def select_backend(config, ipr):  # noqa: ANN001, ANN202
        asked.append("kernel")
        raise PlanError("stop here")

    monkeypatch.setattr(applier_mod, "select_backend", select_backend)
    conv = Applier(parse(CONFIG), None, quiet=quiet)  # type: ignore[arg-type]
    attempt = asyncio.create_task(conv.apply())
    await asyncio.sleep(0.05)
    assert asked == ["quiet"], "a request went out while the kernel was still making the switch"
    answered.set()
    with pytest.raises(PlanError):
        await asyncio.wait_for(attempt, 2)
    assert asked == ["quiet", "kernel"]
    old = RunningSet(parse(CONFIG), Dispatcher([], 10), None, conv)
    new = await build_beside(parse(CONFIG.replace("netlink", "auto")), old, None, lambda *a: None,  # type: ignore[arg-type]
                             lambda _text: None, check_plan=False)
    assert new.applier is not conv and new.applier.quiet is quiet


async def test_an_attempt_that_stops_moving_is_cancelled_naming_where_and_one_that_moves_is_not(monkeypatch) -> None:
    """The lab's CI saw an apply's second attempt, after NetworkManager restarted mid-apply, say nothing
    for 240 s: the start never ended. An attempt that stops moving is cancelled and retried instead."""
    monkeypatch.setattr(applier_mod, "STALL_S", 0.2)
    cancelled: list[str] = []

    async def apply_and_verify(backend, bond, ipr, progress, dry_run, gate):  # noqa: ANN001, ANN202
        for step in range(5):  # 0.5 s in all, but never 0.2 s without a line
            progress(f"step {step}")
            await asyncio.sleep(0.1)
        await gate("planned")
        try:
            await asyncio.Event().wait()  # a request nobody answers
        except asyncio.CancelledError:
            cancelled.append("rolled back")
            raise

    monkeypatch.setattr(applier_mod, "apply_and_verify", apply_and_verify)
    conv = Applier(parse(CONFIG), None, backend=object())  # type: ignore[arg-type]
    with pytest.raises(applier_mod.Stalled, match="no progress for 0 s after: stage 'planned'"):
        await asyncio.wait_for(conv.apply(), 5)
    assert cancelled == ["rolled back"] and not conv.applying and conv.tried.is_set()
