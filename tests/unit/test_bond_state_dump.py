"""Decoding a link's message: what is asked of sysfs and the ethtool ioctl, and how often."""

from __future__ import annotations

from typing import Any

import pytest


def test_a_links_speed_is_asked_once_per_carrier_change_and_its_device_once_per_ifindex(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a flapping VF an ioctl and a sysfs walk per link per read were most of a read's cost."""
    from vfbond.kernel import bond_state

    asked: list[str] = []
    monkeypatch.setattr(bond_state.ethtool, "speed", lambda name: asked.append(f"speed {name}") or 25000)
    monkeypatch.setattr(bond_state, "device", lambda name, kind: asked.append(f"device {name}")
                        or bond_state.Device("iavf", None, None, None))
    bond_state._device_of.cache_clear()
    bond_state._speed_of.cache_clear()

    def msg(index: int, changes: int, carrier: int = 1) -> dict[Any, Any]:
        return {"index": index, "ifname": "vf0", "carrier": carrier, "carrier_changes": changes}

    reads = [bond_state.link_info(m) for m in (msg(7, 4), msg(7, 4), msg(7, 5, carrier=0), msg(7, 6), msg(8, 6))]
    assert [r.speed_mbps for r in reads] == [25000, 25000, None, 25000, 25000]
    assert asked == ["device vf0", "speed vf0", "speed vf0", "device vf0", "speed vf0"]
