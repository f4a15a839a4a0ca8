"""One plugin idiom for every family: register, look up, list, fail naming the known names.

Strategies, regressors, encoders, heads, tasks and perf suites each keep one
:class:`Registry`. A plugin registers itself under a name where it is defined (usually
with :meth:`Registry.register` as a decorator); callers look it up with
:meth:`Registry.get`, which raises the family's :class:`~nas.errors.NasError` subclass
with the list of known names when the name is unknown. Tests walk each registry.

This module is a leaf: it imports nothing of the project but :mod:`nas.errors`, so any
layer can hold a registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from nas.errors import NasError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one plugin family, in registration order.

    Args:
        family: what an entry is, in words ("strategy", "task"); used in error messages.
        error: the :class:`NasError` subclass raised for an unknown name, so that each
            family fails with its own error type (``TaskError`` for tasks...).
        hint: appended to the unknown-name message: what to do next.
    """

    def __init__(
        self, family: str, *, error: type[NasError] = UnknownNameError, hint: str = ""
    ) -> None:
        self.family = family
        self.error = error
        self.hint = hint
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, entry: T) -> T: ...

    def register(self, name, entry=None):
        """Add ``entry`` under ``name``; without ``entry``, a decorator that does so.

        Registering a second entry under one name is a bug and raises ``ValueError``.
        """
        if entry is None:
            return lambda obj: self.register(name, obj)
        if name in self._entries:
            raise ValueError(f"{self.family} {name!r} registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry ``name``; the family's error naming every known entry otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            raise self.error(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        """The one-line message for an unknown ``name``: the known names and the hint."""
        known = ", ".join(self._entries) or "(none registered)"
        message = f"unknown {self.family} {name!r}; choose one of {known}"
        return f"{message}; {self.hint}" if self.hint else message

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self._entries)

    def items(self) -> tuple[tuple[str, T], ...]:
        """Every ``(name, entry)`` pair, in registration order."""
        return tuple(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}, {list(self._entries)})"
