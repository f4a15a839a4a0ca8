"""Command-line interface: ``nas <command>``.

Each area registers its commands on the shared Typer app when its module is imported
(see :mod:`nas.cli.areas`): :func:`run_app` imports the one its command line names, and
``nas.cli.app``, the Typer app reached through this package, has every command.
"""

from __future__ import annotations

import sys

from nas.cli.root import run_app


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_app())


def __getattr__(name: str):
    if name == "app":  # the whole CLI, e.g. for typer.testing.CliRunner
        from nas.cli.areas import load_areas
        from nas.cli.root import app

        load_areas()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main", "run_app"]
