"""The status TypedDicts (shared/status.py) name exactly the keys their producers send: the parts
made by dataclasses.asdict() are checked here, since mypy cannot see into asdict()."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from vfbond.kernel.bond_state import BondState, LinkInfo, SlaveState
from vfbond.shared.events import Event, EventType
from vfbond.shared.status import BondDict, EventDict, LinkDict, SlaveDict


def keys(td: Any) -> set[str]:
    return set(td.__required_keys__) | set(td.__optional_keys__)


def test_the_bond_dicts_have_the_dataclasses_fields() -> None:
    for dataclass, typed in ((LinkInfo, LinkDict), (SlaveState, SlaveDict), (BondState, BondDict)):
        assert {f.name for f in fields(dataclass)} == keys(typed), dataclass.__name__


def test_the_event_dict_has_the_keys_event_to_dict_writes() -> None:
    assert set(Event(EventType.FAILOVER, "bond0").to_dict()) == keys(EventDict)
