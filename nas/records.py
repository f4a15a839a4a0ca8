"""Plain-data helpers shared by the configuration dataclasses."""

from __future__ import annotations

from dataclasses import fields
from typing import TypeVar

T = TypeVar("T")


def from_known_keys(cls: type[T], values: dict, what: str) -> T:
    """``cls(**values)`` for a dataclass, refusing keys it does not have.

    Stored JSON written by another version should fail loudly, naming the unknown keys,
    rather than be silently dropped or crash inside ``__init__``.
    """
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {what}(s) {unknown}; known: {sorted(known)}")
    return cls(**values)
