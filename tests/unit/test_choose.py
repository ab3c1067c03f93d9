"""Backend choice: the decision is pure (facts in, name + reason out); only needed facts are gathered."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vfbond.backends import choose
from vfbond.backends.base import BackendError
from vfbond.backends.choose import Facts, decide
from vfbond.config import BondConfig, Config

ON, OFF = True, False


@pytest.mark.parametrize("nm, ifcfg, expected", [
    (ON, ON, "nm"),
    (ON, OFF, "nm"),
    (OFF, ON, "ifcfg"),
    (OFF, OFF, "netlink"),
])
def test_auto(nm: bool, ifcfg: bool, expected: str) -> None:
    choice = decide("auto", Facts(nm_on_bus=nm, ifcfg_dir_exists=ifcfg))
    assert choice.name == expected and choice.reason.startswith("auto: ")


def test_auto_reason_says_why() -> None:
    assert "org.freedesktop.NetworkManager is on the system bus" in decide("auto", Facts(ON, ON)).reason
    assert "/etc/sysconfig/network-scripts exists" in decide("auto", Facts(OFF, ON)).reason
    assert "nothing persists" in decide("auto", Facts(OFF, OFF, "/x")).reason


def test_explicit_choices_need_no_facts() -> None:
    assert decide("netlink", Facts(None, None)).name == "netlink"
    assert decide("ifcfg", Facts(None, ON)).name == "ifcfg"
    assert decide("nm", Facts(ON, None)).name == "nm"


def test_explicit_nm_without_nm_on_the_bus_is_an_error_with_a_fix() -> None:
    with pytest.raises(BackendError) as err:
        decide("nm", Facts(OFF, ON))
    text = str(err.value)
    assert "not on the system bus" in text and "Fix: " in text and "\n" not in text


def test_explicit_ifcfg_without_the_directory_is_an_error_with_a_fix() -> None:
    with pytest.raises(BackendError, match=r"/etc/foo does not exist\. Fix: "):
        decide("ifcfg", Facts(None, OFF, "/etc/foo"))


def test_unknown_name() -> None:
    with pytest.raises(BackendError, match="unknown"):
        decide("systemd-networkd", Facts(OFF, OFF))


@pytest.mark.parametrize("requested, bus, directory", [
    ("auto", True, True), ("nm", True, False), ("ifcfg", False, True), ("netlink", False, False),
])
def test_only_needed_facts_are_gathered(requested: str, bus: bool, directory: bool) -> None:
    assert choose.needs(requested) == (bus, directory)


def config(backend: str, ifcfg_dir: str) -> Config:
    return Config(bond=BondConfig(), backend=backend, ifcfg_dir=ifcfg_dir)


async def test_select_backend_builds_ifcfg_over_netlink(tmp_path, monkeypatch) -> None:
    async def no_nm(bus=None):
        return False

    monkeypatch.setattr(choose, "nm_on_bus", no_nm)
    backend, reason = await choose.select_backend(config("auto", str(tmp_path)), ipr=object())
    assert backend.name == "ifcfg" and backend.runtime.name == "netlink" and str(tmp_path) in reason
    backend, reason = await choose.select_backend(config("auto", str(tmp_path / "none")), ipr=object())
    assert backend.name == "netlink" and reason.startswith("auto: ")


async def test_explicit_netlink_never_asks_the_bus(monkeypatch) -> None:
    async def boom(bus=None):
        raise AssertionError("the bus was asked")

    monkeypatch.setattr(choose, "nm_on_bus", boom)
    backend, _ = await choose.select_backend(config("netlink", "/nonexistent"), ipr=object())
    assert backend.name == "netlink"


async def test_nm_on_bus_is_false_without_a_system_bus(monkeypatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/vfbond-test-bus")
    assert await choose.nm_on_bus(timeout=2) is False


def test_choosing_netlink_does_not_import_nm_or_dbus() -> None:
    code = ("import asyncio, sys; from vfbond.backends import choose; from vfbond.config import Config, BondConfig;"
            "b, r = asyncio.run(choose.select_backend(Config(bond=BondConfig(), backend='netlink'), ipr=None));"
            "print(b.name, 'vfbond.backends.nm' in sys.modules, 'dbus_fast' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["netlink", "False", "False"]


async def test_auto_with_nm_on_the_bus_builds_the_nm_backend(monkeypatch) -> None:
    async def yes(bus=None):
        return True

    monkeypatch.setattr(choose, "nm_on_bus", yes)
    backend, reason = await choose.select_backend(config("auto", "/nonexistent"), ipr=None)
    assert backend.name == "nm" and type(backend).__name__ == "NMBackend" and "system bus" in reason
