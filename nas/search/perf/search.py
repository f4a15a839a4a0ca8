"""``nas perf search``: random search vs regularized evolution, and worker throughput.

(a) Quality at equal budget: ``random`` and ``evolution`` each search einspace on
    digits with the same budget, tuning and seeds; the figure is the median over seeds
    of the best validation accuracy (random search is the baseline). Best-so-far curves
    go to ``runs/perf/search_curves.csv`` and ``.png`` (median over seeds, with the
    min-max band).
(b) Throughput of the real search loop (proposal, claim, lease, tuning, export, storage
    writes): evaluations/s with 2 worker processes over 1, on the same random proposals
    (the proposal seed depends on the trial number only). Rates are measured over the
    trials' own time stamps once every worker is at work (:func:`steady_rate`), so
    process start-up is not counted. Target >= 1.8x on 2 cores (issue 4).
The figures of issue 13 (best-so-far against wall-clock time, screening cost, the
20-minute run) are the suite ``search_quality`` (:mod:`nas.search.perf.search_quality`).
"""

from __future__ import annotations

import csv
import math
import shutil
import statistics
from pathlib import Path

import optuna
import torch

from nas.search import SearchConfig, run_search
from nas.search.perf import scaling_rows
from nas.search.study import SearchStudy

OUT = Path("runs") / "perf"
THROUGHPUT_TARGET = 1.8


def _search(out: Path, **options):
    """Run one fresh search in ``out`` and return its history."""
    shutil.rmtree(out, ignore_errors=True)
    # the strategies alone: references would make both arms start from the same results
    config = SearchConfig(out=str(out), study=out.name, seed_references=False, **options)
    run_search(config)
    return SearchStudy.open(str(out / "study.journal"), out.name, create=False).history()


def best_so_far(history) -> list[float]:
    """Best validation score after each evaluation (failed ones repeat the previous best;
    NaN until one completes)."""
    curve, best = [], float("nan")
    for record in history.evaluated:
        if record.score is not None and not record.score <= best:  # NaN compares False
            best = record.score
        curve.append(best)
    return curve


def strategy_comparison(budget: int, seeds: list[int], epochs: int, tune_trials: int,
                        trial_seconds: float = 15.0) -> list[dict]:
    """Figure (a): the best validation accuracy of each strategy, medians over seeds."""
    curves: dict[str, list[list[float]]] = {"random": [], "evolution": []}
    tests: dict[str, list[float]] = {"random": [], "evolution": []}
    for seed in seeds:
        for strategy in curves:
            history = _search(OUT / "search" / f"{strategy}-s{seed}", grammar="einspace",
                              task="digits", strategy=strategy, budget=budget, seed=seed,
                              epochs=epochs, tune_trials=tune_trials,
                              trial_seconds=trial_seconds)
            curves[strategy].append(best_so_far(history))
            best = history.best()
            tests[strategy].append(best.user_attrs["test_score"] if best else float("nan"))
    _write_curves(curves, seeds)
    finals = {s: _median([c[-1] for c in runs]) for s, runs in curves.items()}
    what = (f"einspace on digits, budget {budget}, {tune_trials} tuning trial(s) x {epochs} "
            f"epochs, median of {len(seeds)} seed(s); curves in {OUT}/search_curves.png")
    return [
        {"figure": "best validation accuracy, random search", "value": finals["random"],
         "unit": "accuracy", "detail": what},
        {"figure": "best validation accuracy, regularized evolution",
         "value": finals["evolution"], "unit": "accuracy", "baseline": finals["random"],
         "target": ">= random search", "detail": what},
        {"figure": "test accuracy of the best architecture, evolution",
         "value": _median(tests["evolution"]), "unit": "accuracy",
         "baseline": _median(tests["random"]), "detail": "baseline: random search"},
    ]


def _write_curves(curves: dict[str, list[list[float]]], seeds: list[int]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "search_curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["strategy", "seed", "evaluation", "best_so_far"])
        for strategy, runs in curves.items():
            for seed, curve in zip(seeds, runs, strict=True):
                writer.writerows([strategy, seed, i + 1, "" if math.isnan(v) else v]
                                 for i, v in enumerate(curve))
    _plot(curves)


def _plot(curves: dict[str, list[list[float]]]) -> None:
    # matplotlib: only the plot needs it, with the file backend chosen before pyplot loads
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy, runs in curves.items():
        n = min(len(c) for c in runs)
        steps = list(range(1, n + 1))
        per_step = [[c[i] for c in runs] for i in range(n)]
        ax.plot(steps, [_median(v) for v in per_step], label=strategy)
        ax.fill_between(steps, [_lowest(v) for v in per_step], [_highest(v) for v in per_step],
                        alpha=0.2)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title("einspace on digits: random search vs regularized evolution")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "search_curves.png", dpi=120)
    plt.close(fig)


def steady_rate(done) -> float:
    """Evaluations/s once every worker is at work: from the moment the last worker
    started its first trial to the last finish, counting each trial by the share of its
    duration inside that window (worker start-up, which overlaps the first trials of
    the others, is left out)."""
    first: dict[str, float] = {}
    for r in done:
        first[r.worker] = min(first.get(r.worker, r.started), r.started)
    start, end = max(first.values()), max(r.finished for r in done)
    inside = sum(max(0.0, min(r.finished, end) - max(r.started, start)) /
                 max(r.finished - r.started, 1e-9) for r in done)
    return inside / (end - start)


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def _median(values: list[float]) -> float:
    return statistics.median(_finite(values)) if _finite(values) else float("nan")


def _lowest(values: list[float]) -> float:
    return min(_finite(values), default=float("nan"))


def _highest(values: list[float]) -> float:
    return max(_finite(values), default=float("nan"))


def throughput(budget: int, epochs: int, repeats: int) -> list[dict]:
    """Figure (b): evaluations/s of the search loop with 1 and with 2 worker processes,
    with the export on the background thread (the default) and, as the baseline, inline
    (``--inline-export``, the order before issue 16); the four runs take turns."""
    modes = ("background", "inline")
    rates: dict[tuple[str, int], list[float]] = {(m, w): [] for m in modes for w in (1, 2)}
    for repeat in range(repeats):
        for workers in (1, 2):
            for mode in modes:
                history = _search(OUT / "search" / f"throughput-{mode}-w{workers}-r{repeat}",
                                  grammar="ffn", task="digits", strategy="random",
                                  budget=budget, epochs=epochs, tune_trials=1,
                                  workers=workers, seed=repeat,
                                  background_export=mode == "background")
                rates[(mode, workers)].append(steady_rate(history.evaluated))
    med = {key: statistics.median(values) for key, values in rates.items()}
    what = (f"ffn on digits, {budget} evaluations of 1 x {epochs} epochs, random proposals, "
            f"journal storage, ONNX export on; median of {repeats}")
    rows = scaling_rows("search loop evaluations/s", med[("background", 1)],
                        med[("background", 2)], THROUGHPUT_TARGET,
                        f"{what}; export on a background thread")
    rows += scaling_rows("search loop evaluations/s, inline export (baseline)",
                         med[("inline", 1)], med[("inline", 2)], THROUGHPUT_TARGET, what)
    return rows


def run(quick: bool) -> list[dict]:
    """Rows for ``nas perf search`` (``quick``: one seed, small budgets, a few minutes)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    threads = torch.get_num_threads()
    try:
        if quick:
            rows = strategy_comparison(budget=12, seeds=[0], epochs=2, tune_trials=1)
            rows += throughput(budget=16, epochs=10, repeats=1)
        else:
            rows = strategy_comparison(budget=30, seeds=[0, 1, 2], epochs=4, tune_trials=1)
            rows += throughput(budget=24, epochs=10, repeats=3)
    finally:
        torch.set_num_threads(threads)
    return rows
