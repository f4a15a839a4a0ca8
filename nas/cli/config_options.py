"""A command's options derived from a config dataclass (see :mod:`nas.options`).

    @app.command("search")
    @config_command(SearchConfig)
    def search(config: SearchConfig, as_json: bool = typer.Option(False, "--json")):
        ...

The command gets one option per field of the dataclass (its flags, help, and default),
followed by the function's own options; the function receives the built config. An
invalid value is reported with the flags the user typed, not the field names.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import MISSING, Field, fields
from typing import Any

import typer

from nas.errors import OptionError
from nas.options import default_of, flag_names, flag_spellings, option_of


def config_command(cls: type) -> Callable[[Callable], Callable]:
    """Decorator: ``func(config, **own)`` becomes a typer command function whose
    parameters are ``cls``'s options followed by ``func``'s own (after ``config``)."""
    derived = option_parameters(cls)

    def decorate(func: Callable) -> Callable:
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
               for p in list(inspect.signature(func, eval_str=True).parameters.values())[1:]]
        names = {p.name for p in derived}
        if names & {p.name for p in own}:
            raise TypeError(f"{func.__name__} repeats options of {cls.__name__}: "
                            f"{sorted(names & {p.name for p in own})}")

        @functools.wraps(func)
        def command(**values: Any) -> Any:
            config = config_from_options(cls, {n: values.pop(n) for n in names})
            return func(config, **values)

        command.__signature__ = inspect.Signature(derived + own)  # what typer reads
        command.__annotations__ = {p.name: p.annotation for p in derived + own}
        return command

    return decorate


def option_parameters(cls: type) -> list[inspect.Parameter]:
    """One keyword parameter per field of ``cls``, its default a ``typer.Option``."""
    hints = typing.get_type_hints(cls)
    return [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                              default=_typer_option(f),
                              annotation=option_of(f).cli_type or hints[f.name])
            for f in fields(cls)]


def config_from_options(cls: type, values: dict[str, Any]) -> Any:
    """``cls`` built from parsed command-line values; an :class:`OptionError` names the
    flags."""
    try:
        return cls(**{f.name: _parse(f, values[f.name]) for f in fields(cls)})
    except OptionError as exc:
        raise exc.renamed(flag_names(cls)) from None


def _typer_option(f: Field) -> Any:
    default, parse = default_of(f), option_of(f).parse
    if default is MISSING:
        default = ...  # required
    elif parse is not None and parse(None) == default:
        default = None  # the option given no times (``--task-option``) parses to it
    return typer.Option(default, *flag_spellings(f), help=option_of(f).help)


def _parse(f: Field, value: Any) -> Any:
    parse = option_of(f).parse
    return parse(value) if parse else value
