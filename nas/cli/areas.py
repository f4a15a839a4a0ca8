"""Which module registers which command, so that a command imports only its own area.

Every area module (``nas/cli/<area>.py``) adds its commands to the shared app when it is
imported. Importing them all costs `nas sample` or `nas grammars` a fifth of a second of
modules they never use (the search's configuration, the store's readers...), so the CLI
imports the area of the command on its line, and all of them only where the whole list is
shown: `nas`, `nas --help`, or a command it does not know (whose error suggests names).
"""

from __future__ import annotations

import importlib

#: area modules in the order their commands are listed by `nas --help`
AREAS = ("bench", "leaderboard", "perf", "predict", "search", "space", "tasks")

#: each top-level command (or group) and the area module that registers it
COMMANDS = {
    "export": "bench", "bench": "bench",
    "leaderboard": "leaderboard",
    "predict": "predict", "predictor": "predict",
    "search": "search", "status": "search",
    "sample": "space", "validate": "space", "grammars": "space",
    "tasks": "tasks",
    "perf": "perf",
}


def command_name(argv: list[str]) -> str | None:
    """The command that ``argv`` names: its first word that is not an option (the root's
    only options, ``--debug`` and ``--help``, take no value)."""
    return next((token for token in argv if not token.startswith("-")), None)


def load_areas(argv: list[str] | None = None) -> None:
    """Import the area of the command that ``argv`` names, or every area when it names
    none that is known (``None``: every area)."""
    name = command_name(argv) if argv is not None else None
    for area in ((COMMANDS[name],) if name in COMMANDS else AREAS):
        importlib.import_module(f"nas.cli.{area}")
