"""Options defined once: a dataclass field that carries its default, help and CLI flags.

    @dataclass(frozen=True)
    class SearchConfig:
        budget: int = option(16, "--budget", "-n", help="Architecture evaluations.")

The dataclass is the one definition of its options: Python callers construct it,
:func:`nas.cli.config_options.config_command` derives a command's options from its
fields, and a test walks the fields to prove that the two agree. Validation raises
:class:`~nas.errors.OptionError`, whose message names fields for Python callers and
flags on the command line (:func:`flag_names`).
"""

from __future__ import annotations

from collections.abc import Callable
from copy import copy
from dataclasses import MISSING, Field, dataclass, field, fields
from functools import partial
from typing import Any

#: key of a field's metadata that holds its :class:`Option`
OPTION = "nas.option"


@dataclass(frozen=True)
class Option:
    """How a dataclass field appears on the command line.

    Attributes:
        help: one sentence for ``--help`` (and the docs).
        flags: the flag spellings, e.g. ``("--budget", "-n")`` or
            ``("--export/--no-export",)``; empty = ``--<field-name>``.
        cli_type: the type the command line parses, when not the field's own.
        parse: command-line value -> field value, when they differ; may raise
            :class:`~nas.errors.OptionError`.
        defines_scores: the value changes what a score means (epochs, data split seed,
            ...): scores made under different values must not be ranked together, so a
            study records it when created and refuses a resume that changes it.
    """

    help: str
    flags: tuple[str, ...] = ()
    cli_type: Any = None
    parse: Callable[[Any], Any] | None = None
    defines_scores: bool = False


def option(default: Any, *flags: str, help: str, cli_type: Any = None,
           parse: Callable[[Any], Any] | None = None, defines_scores: bool = False) -> Any:
    """A dataclass ``field`` whose metadata is an :class:`Option` (see the module doc).

    A mutable ``default`` (``{}``, ``[]``) becomes a factory of copies, as dataclasses
    require.
    """
    metadata = {OPTION: Option(help, tuple(flags), cli_type, parse, defines_scores)}
    if type(default).__hash__ is None:
        return field(default_factory=partial(copy, default), metadata=metadata)
    return field(default=default, metadata=metadata)


def option_of(f: Field) -> Option:
    """The :class:`Option` of a field; a field defined without :func:`option` is a
    programming error (every option must have its flag and help)."""
    try:
        return f.metadata[OPTION]
    except KeyError:
        raise TypeError(f"field {f.name!r} is not defined with option()") from None


def flag_spellings(f: Field) -> tuple[str, ...]:
    """The field's flag declarations as click takes them (``--<field-name>`` if none)."""
    return option_of(f).flags or ("--" + f.name.replace("_", "-"),)


def score_fields(cls: type) -> tuple[str, ...]:
    """Names of the fields declared with ``defines_scores=True``, in field order."""
    return tuple(f.name for f in fields(cls) if option_of(f).defines_scores)


def flag_names(cls: type) -> dict[str, str]:
    """Field name -> its main flag (``--seed-references`` for a ``--x/--no-x`` pair)."""
    return {f.name: flag_spellings(f)[0].split("/")[0] for f in fields(cls)}


def default_of(f: Field) -> Any:
    """A field's default value (a fresh one for a ``default_factory``), MISSING if none."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING
