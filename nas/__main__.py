"""``python -m nas`` runs the CLI."""

from nas.cli import main

main()
