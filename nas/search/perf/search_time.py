"""Figures of ``nas perf search`` against wall-clock time (issue 13).

(c) **Best-so-far against wall-clock time**, each strategy searching einspace on digits
    without references for the same ``--time-limit``, seeds alike; medians over seeds of
    the best validation score reached by each time point, and the test score of that
    architecture. Strategies (:data:`CONTENDERS`): random search, today's regularized
    evolution (einspace's subtree mutation, crossover 0.2, every architecture trained in
    full: the baseline), and the new evolution (small-step mutations, crossover 0.2,
    successive halving from a 1-epoch rung). Curves go to
    ``runs/perf/search_time.csv`` and ``.png``.
(d) **Screening cost**: how long a chance-level architecture (validation accuracy
    <= 0.2 on 10 classes) takes to be rejected, with every architecture trained in full
    and with successive halving from a 1-epoch rung, on the same random proposals
    (random proposals depend only on the seed and trial number, so both runs propose
    the same architectures).
"""

from __future__ import annotations

import csv
import shutil
import statistics
from pathlib import Path

from nas.search import SearchConfig, run_search
from nas.search.perf import load_note
from nas.search.study import SearchStudy

OUT = Path("runs") / "perf"
SETTING = {"grammar": "einspace", "task": "digits", "seed_references": False,
           "export": False}
#: name -> search options
CONTENDERS = {
    "random": {"strategy": "random"},
    "evolution (today)": {"strategy": "evolution", "mutation": "subtree",
                          "crossover_rate": 0.2},
    "evolution (small steps + halving)": {"strategy": "evolution", "mutation": "small",
                                          "crossover_rate": 0.2, "min_epochs": 1},
}
CHANCE = 0.2


def _search(out: Path, **options):
    shutil.rmtree(out, ignore_errors=True)
    run_search(SearchConfig(out=str(out), study=out.name, **SETTING, **options))
    return SearchStudy.open(str(out / "study.journal"), out.name, create=False).history()


def curve(history) -> list[tuple[float, float, float]]:
    """(seconds since the study's first trial started, best val, its test) at each
    completed evaluation that improved the best."""
    done = sorted((r for r in history.records if r.finished and r.started),
                  key=lambda r: r.finished)
    if not done:
        return []
    start, best, points = min(r.started for r in done), None, []
    for r in done:
        if r.score is not None and (best is None or r.score > best):
            best = r.score
            points.append((r.finished - start, r.score,
                           float(r.user_attrs.get("test_score", float("nan")))))
    return points


def at(points: list[tuple[float, float, float]], t: float) -> tuple[float, float]:
    """(best val, its test) reached by time ``t`` (NaN before the first)."""
    reached = [p for p in points if p[0] <= t]
    return (reached[-1][1], reached[-1][2]) if reached else (float("nan"), float("nan"))


def best_over_time(limit_s: float, seeds: list[int], epochs: int = 5,
                   tune_trials: int = 2, population: int | None = None) -> list[dict]:
    """Figure (c): rows of best-so-far val/test at fractions of ``limit_s``
    (``population``: evolution's, else the default of a time-limited search)."""
    curves: dict[str, list] = {name: [] for name in CONTENDERS}
    for seed in seeds:
        for name, options in CONTENDERS.items():
            slug = name.split(" ")[0] + ("-new" if "small" in name else "")
            history = _search(OUT / "search-time" / f"{slug}-s{seed}", seed=seed,
                              time_limit_s=limit_s, budget=None, epochs=epochs,
                              tune_trials=tune_trials, population=population, **options)
            curves[name].append(curve(history))
    _write(curves, seeds, limit_s)
    what = load_note(f"einspace on digits, no references, --time-limit {limit_s:g} s, "
                     f"{tune_trials} tuning trials x {epochs} epochs, population "
                     f"{population or 'default'}, medians of seeds {seeds}")
    rows = []
    for frac in (0.25, 0.5, 1.0):
        t = frac * limit_s
        base = _median_at(curves["evolution (today)"], t)
        for name in CONTENDERS:
            val, test = _median_at(curves[name], t)
            rows.append({"figure": f"best val / its test after {t:.0f} s, {name}",
                         "value": round(val, 4), "test": round(test, 4), "unit": "accuracy",
                         "baseline": round(base[0], 4) if name != "evolution (today)"
                         else None, "detail": what})
    return rows


def _median_at(runs: list, t: float) -> tuple[float, float]:
    pairs = [at(points, t) for points in runs]
    vals = [v for v, _ in pairs if v == v]
    tests = [x for _, x in pairs if x == x]
    return (statistics.median(vals) if vals else float("nan"),
            statistics.median(tests) if tests else float("nan"))


def _write(curves: dict, seeds: list[int], limit_s: float) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "search_time.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["strategy", "seed", "seconds", "best_val", "its_test"])
        for name, runs in curves.items():
            for seed, points in zip(seeds, runs, strict=True):
                writer.writerows([name, seed, round(s, 2), v, t] for s, v, t in points)
    _plot(curves, limit_s)


def _plot(curves: dict, limit_s: float) -> None:
    # matplotlib: only the plot needs it, with the file backend chosen before pyplot loads
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = [limit_s * k / 100 for k in range(101)]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, runs in curves.items():
        ax.plot(grid, [_median_at(runs, t)[0] for t in grid], label=name)
    ax.set_xlabel("seconds of search")
    ax.set_ylabel("best validation accuracy so far (median)")
    ax.set_title("einspace on digits, no references")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "search_time.png", dpi=120)
    plt.close(fig)


def screening_cost(budget: int, seed: int = 0, epochs: int = 5, tune_trials: int = 2
                   ) -> list[dict]:
    """Figure (d): median seconds spent on a chance-level architecture, without and with
    successive halving, on the same random proposals."""
    runs = {}
    for label, extra in (("full", {}), ("halving", {"min_epochs": 1})):
        runs[label] = _search(OUT / "search-screening" / f"{label}-s{seed}", seed=seed,
                              strategy="random", budget=budget, epochs=epochs,
                              tune_trials=tune_trials, **extra)
    chance = {r.arch_id for r in runs["full"].evaluated
              if (r.value if r.value is not None else 0.0) <= CHANCE}
    cost = {label: [r.finished - r.started for r in h.evaluated
                    if r.arch_id in chance and r.finished and r.started]
            for label, h in runs.items()}
    total = {label: sum(r.finished - r.started for r in h.evaluated if r.finished)
             for label, h in runs.items()}
    what = load_note(f"einspace on digits, random proposals (the same in both runs), budget "
                     f"{budget}, {tune_trials} tuning trials x {epochs} epochs, seed {seed}; "
                     f"{len(chance)} chance-level architectures (val <= {CHANCE})")
    med = {k: statistics.median(v) if v else float("nan") for k, v in cost.items()}
    return [
        {"figure": "seconds to reject a chance-level architecture, successive halving",
         "value": round(med["halving"], 2), "unit": "s", "baseline": round(med["full"], 2),
         "detail": what + "; baseline: trained in full"},
        {"figure": "seconds of training for the whole search, successive halving",
         "value": round(total["halving"], 1), "unit": "s", "baseline": round(total["full"], 1),
         "detail": what},
    ]
