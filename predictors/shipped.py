"""Where the shipped default predictor lives: ``predictors/data/default.predictor``,
inside the installed package (``python -m maintainer.predictor_store`` writes it)."""

from __future__ import annotations

from pathlib import Path

#: the package's data directory (the shipped predictor and its training index)
DATA_DIR = Path(__file__).resolve().parent / "data"


def default_predictor_path() -> Path:
    """The shipped default predictor: what ``nas predict`` and ``--strategy predictor``
    use when no other file is given. The file may be absent (not trained yet)."""
    return DATA_DIR / "default.predictor"
