"""Leaderboard benchmarks (suite ``leaderboard``): 10,000 trials, loaded and rendered.

Figures (medians of several repeats, data built synthetically with the real schema):

* loading a 10,000-trial journal study into a ranked board, against Optuna's own read
  of the same journal (``optuna.load_study(...).trials``) as the baseline;
* rendering that board in every format, against ``DataFrame.to_csv`` of the same rows
  as the baseline. Target: seconds, not minutes.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import optuna

from bench.leaderboard import FORMATS, load_leaderboard, render
from nas.search.perf.synthetic_studies import store_index, synthetic_trials, write_study

TARGET_S = 10.0


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _journal(tmp: Path, n: int) -> tuple[Path, object]:
    path = tmp / "study.journal"
    study = write_study(path, synthetic_trials(n, fail_every=25, task="bench"), "bench")
    return path, store_index(study.trials)


def load_figure(path: Path, index, n: int, repeats: int) -> dict:
    """Median time to load the study (plus the store index) into a ranked board."""
    def optuna_read() -> None:
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(path)))
        optuna.load_study(study_name="bench", storage=storage).get_trials(deepcopy=False)

    load_leaderboard(storage=path, store=index)  # warm-up: imports, task registry lookup
    ours = _median_seconds(lambda: load_leaderboard(storage=path, store=index), repeats)
    base = _median_seconds(optuna_read, repeats)
    return {"figure": f"load {n:,} trials from a journal study into a ranked board",
            "value": ours, "unit": "s", "baseline": base, "target": TARGET_S,
            "detail": f"baseline: optuna.load_study(...).trials alone; median of {repeats}"}


def render_figures(path: Path, index, n: int, repeats: int) -> list[dict]:
    """Median render time of each format for the whole board."""
    board = load_leaderboard(storage=path, store=index)
    base = _median_seconds(lambda: board.rows.to_csv(index=False), repeats)
    rows = []
    for fmt in FORMATS:
        top = None if fmt != "table" else 20  # a terminal shows a screenful
        text = render(board, fmt, top=top)
        seconds = _median_seconds(lambda fmt=fmt, top=top: render(board, fmt, top=top), repeats)
        rows.append({"figure": f"render {fmt}, {len(board.rows):,} rows ({n:,} trials)",
                     "value": seconds, "unit": "s", "baseline": base, "target": TARGET_S,
                     "detail": f"{len(text.encode()) / 1e6:.2f} MB output; baseline: "
                               f"DataFrame.to_csv; median of {repeats}"})
    return rows


def run(quick: bool) -> list[dict]:
    """Load and render a leaderboard of 10,000 trials (2,000 with ``quick``)."""
    n, repeats = (2_000, 1) if quick else (10_000, 3)
    with tempfile.TemporaryDirectory() as tmp:
        path, index = _journal(Path(tmp), n)
        return [load_figure(path, index, n, repeats), *render_figures(path, index, n, repeats)]
