"""Published figures for a task: shown next to a leaderboard, never ranked with it."""

from __future__ import annotations

from dataclasses import dataclass

from bench.tasks.catalog import FIXED, task_info


@dataclass(frozen=True)
class PublishedFigure:
    """A score someone published for a task (not measured by this platform)."""

    name: str
    score: float
    source: str


def _key(task: str) -> str:
    return task.lower().replace("-", "").replace("_", "")


def published_figures(task: str | None) -> list[PublishedFigure]:
    """Published figures for ``task`` from the task catalog, best last; [] when none
    are known. Names are compared without case, '-' or '_' (``MNIST-1D`` is
    ``mnist1d``)."""
    if not task:
        return []
    info = task_info(task) or next(
        (i for name, i in FIXED.items() if _key(name) == _key(task)), None)
    refs = info.references if info else ()
    found = [PublishedFigure(r.name, r.score, r.source) for r in refs]
    return sorted(found, key=lambda f: f.score)
