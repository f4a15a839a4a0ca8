"""Command-line interface: ``nas <command>``.

Each area registers its commands on the shared Typer app when its module is imported.
"""

from __future__ import annotations

import sys

from nas.cli import space  # noqa: F401  (registers sample, validate, grammars)
from nas.cli.app import app, run_app
from nas.cli import perf  # noqa: F401,I001  (registers the perf group last)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_app())


__all__ = ["app", "main"]
