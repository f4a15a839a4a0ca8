"""Several runs side by side: one leaderboard each, a summary row each, joint curves."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bench.leaderboard.frame import Leaderboard, load_leaderboard
from bench.leaderboard.references import PublishedFigure
from nas.errors import LeaderboardError

#: columns of :attr:`Comparison.summary`
SUMMARY_COLUMNS = (
    "run", "strategy", "grammar", "evaluations", "completed", "failed", "best_val_score",
    "test_score_of_best", "best_arch_id", "best_params", "evaluations_to_best",
    "wall_time_s", "train_seconds",
)


@dataclass
class Comparison:
    """Runs compared on one task.

    Attributes:
        boards: one leaderboard per run, in the order given.
        summary: one row per run (:data:`SUMMARY_COLUMNS`).
        history: the runs' evaluation histories stacked (column ``run`` tells them apart).
    """

    boards: list[Leaderboard]
    summary: pd.DataFrame
    history: pd.DataFrame

    @property
    def task(self) -> str | None:
        return self.boards[0].task

    @property
    def metric(self) -> str:
        return self.boards[0].metric

    @property
    def maximize(self) -> bool:
        return self.boards[0].maximize

    @property
    def references(self) -> list[PublishedFigure]:
        return self.boards[0].references


def compare_runs(runs, task: str | None = None, grammar: str | None = None) -> Comparison:
    """Load each run directory in ``runs`` and compare them.

    Raises:
        LeaderboardError: fewer than two runs, two runs with one name, or runs on
            different tasks or metrics (pass ``task`` to pick one).
    """
    runs = list(runs)
    if len(runs) < 2:
        raise LeaderboardError("--compare needs at least two run directories")
    boards = [load_leaderboard(run=r, task=task, grammar=grammar) for r in runs]
    _check_comparable(boards)
    summary = pd.DataFrame([_summary_row(b) for b in boards], columns=list(SUMMARY_COLUMNS))
    history = pd.concat([b.history for b in boards], ignore_index=True)
    return Comparison(boards=boards, summary=summary, history=history)


def _check_comparable(boards: list[Leaderboard]) -> None:
    labels = [b.label for b in boards]
    if len(set(labels)) != len(labels):
        raise LeaderboardError(f"two runs share a name ({', '.join(labels)}): the "
                               "comparison labels runs by directory name; rename one")
    for attr, what in (("task", "tasks"), ("metric", "metrics"), ("maximize", "directions")):
        values = {getattr(b, attr) for b in boards}
        if len(values) > 1:
            found = ", ".join(f"{b.label}: {getattr(b, attr)}" for b in boards)
            raise LeaderboardError(f"runs differ in {what} ({found}); only runs on one task "
                                   "compare: pass --task to pick it")


def _summary_row(board: Leaderboard) -> dict:
    best = board.rows.iloc[0]
    hist = board.history
    reached = hist.index[hist["val_score"] == best["val_score"]]
    return {
        "run": board.label,
        "strategy": ", ".join(sorted(hist["strategy"].dropna().astype(str).unique())),
        "grammar": ", ".join(sorted(board.rows["grammar"].dropna().astype(str).unique())),
        "evaluations": board.counts["finished"], "completed": board.counts["completed"],
        "failed": board.counts["failed"], "best_val_score": float(best["val_score"]),
        "test_score_of_best": best["test_score"], "best_arch_id": best["arch_id"],
        "best_params": best["params"],
        "evaluations_to_best": int(hist.loc[reached[0], "evaluation"]) if len(reached) else None,
        "wall_time_s": hist["elapsed_s"].max(),
        "train_seconds": float(hist["train_seconds"].sum(skipna=True)),
    }
