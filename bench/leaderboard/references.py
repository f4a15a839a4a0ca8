"""Published figures for a task: shown next to a leaderboard, never ranked with it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedFigure:
    """A score someone published for a task (not measured by this platform)."""

    name: str
    score: float
    source: str


_MNIST1D = "Greydanus, MNIST-1D paper (arXiv:2011.14439), results table"

#: fallback table, used when the task object carries no ``references``
#: (task names compared without case, '-' or '_')
PUBLISHED: dict[str, tuple[PublishedFigure, ...]] = {
    "mnist1d": (
        PublishedFigure("logistic regression", 0.32, _MNIST1D),
        PublishedFigure("MLP", 0.68, _MNIST1D),
        PublishedFigure("GRU", 0.91, _MNIST1D),
        PublishedFigure("CNN", 0.94, _MNIST1D),
        PublishedFigure("human", 0.96, _MNIST1D),
    ),
}


def _key(task: str) -> str:
    return task.lower().replace("-", "").replace("_", "")


def published_figures(task: str | None) -> list[PublishedFigure]:
    """Published figures for ``task``, best last.

    Takes them from ``bench.tasks.get_task(task).references`` when the task registry
    provides them, otherwise from :data:`PUBLISHED`. Returns [] when none are known.
    """
    if not task:
        return []
    found = _from_task(task)
    if found is None:
        found = list(PUBLISHED.get(_key(task), ()))
    return sorted(found, key=lambda f: f.score)


def _from_task(task: str) -> list[PublishedFigure] | None:
    """The task registry's figures: from its static info when it carries them (cheap),
    else from the built task (which generates the task's data once per process)."""
    # torch: bench.tasks builds tensors; the leaderboard imports it only for a task's
    # figures, so that `nas leaderboard` starts without torch (issue 16)
    from bench.tasks import get_task, list_tasks

    try:
        info = next((i for i in list_tasks() if i.name == task), None)
        refs = getattr(info, "references", None)
        if refs is None:
            refs = getattr(get_task(task), "references", None)
    except Exception:  # an unknown or unloadable task only loses its reference rows
        return None
    if not refs:
        return None
    return [PublishedFigure(str(r.name), float(r.score), str(r.source)) for r in refs]
