"""Which config fields are secrets, and keeping their values out of text.

SNMP communities and USM keys are credentials. Error messages, events, history, logs, status and
traps may say that such a field is set or wrong, never what it holds.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Iterable
from typing import Any

SECRET_FIELDS = frozenset({"community", "auth_key", "priv_key"})
MASK = "<redacted>"

# A config value may be a large structure of YAML aliases (shared, not copied): show it bounded.
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 3, 4, 4  # at most 64 leaves


def is_secret(field: str) -> bool:
    """`field` is a name (auth_key) or a dotted config path (alerts.snmp[0].auth_key)."""
    return field.rsplit(".", 1)[-1] in SECRET_FIELDS


def shown(field: str, value: Any) -> str:
    """How a config value may appear in a message: a bounded repr, or only its type for a secret."""
    return f"a {type(value).__name__} ({MASK})" if is_secret(field) else _REPR.repr(value)


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` (from a library, which knows nothing of fields) with every secret value masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def dataclass_repr(obj: Any) -> str:
    """The dataclass repr, with secret fields shown as set (MASK) or None."""
    def value(name: str) -> str:
        v = getattr(obj, name)
        return MASK if is_secret(name) and v is not None else repr(v)
    fields = ", ".join(f"{f.name}={value(f.name)}" for f in dataclasses.fields(obj) if f.repr)
    return f"{type(obj).__name__}({fields})"
