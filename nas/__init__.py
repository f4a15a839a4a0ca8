"""Grammar-driven neural architecture search: the search-space side and the CLI."""

__version__ = "0.1.0"
