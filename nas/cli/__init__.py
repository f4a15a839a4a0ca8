"""Command-line interface: ``nas <command>``.

Each area registers its commands on the shared Typer app when its module is imported.
"""

from __future__ import annotations

import sys

from nas.cli import (
    bench,  # noqa: F401,I001  (registers export and the bench group)
    leaderboard,  # noqa: F401,I001  (registers leaderboard)
    perf,  # noqa: F401,I001  (registers the perf group last)
    predict,  # noqa: F401,I001  (registers predict and the predictor group)
    search,  # noqa: F401,I001  (registers search and status)
    space,  # noqa: F401  (registers sample, validate, grammars)
    tasks,  # noqa: F401,I001  (registers tasks)
)
from nas.cli.app import app, run_app


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_app())


__all__ = ["app", "main"]
