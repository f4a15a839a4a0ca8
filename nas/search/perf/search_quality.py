"""``nas perf search_quality``: does the search find good architectures from the grammar
alone (issue 13)? Every search here runs without the grammar's references.

(c) **Best-so-far against wall-clock time**: each contender (:data:`CONTENDERS`) searches
    einspace on digits for the same ``--time-limit`` with one worker, the seeds alike;
    two searches run at a time, one per core, so each has one core. Medians over seeds
    of the best validation score reached by each time point and the test score of that
    architecture. Curves go to ``runs/perf/search_quality.csv`` and ``.png``.
(d) **Screening cost**: how long a chance-level architecture (validation accuracy
    <= 0.2 on 10 classes) takes to be rejected, with every architecture trained in full
    and with successive halving from a 1-epoch rung, on the same random proposals
    (random proposals depend only on the seed and trial number).
(e) **Where the gains come from**: the median validation score of the children of each
    origin (a mutation kind, crossover, a fresh sample) over the contenders' runs, and
    the share of children within 2 points of their parent or better.

The issue's two long target runs (digits in 20 minutes, mnist1d in 60, on 2 cores) are
the suite ``search_targets`` (:mod:`nas.search.perf.search_targets`).
"""

from __future__ import annotations

import csv
import multiprocessing
import shutil
import statistics
from pathlib import Path

from nas.search import SearchConfig, run_search
from nas.search.perf import load_note
from nas.search.study import SearchStudy

OUT = Path("runs") / "perf"
#: final selection off (as by default) whatever the default becomes: this suite compares
#: the searches themselves, best-so-far curves over the whole time
SETTING = {"grammar": "einspace", "task": "digits", "seed_references": False,
           "finalists": 0}
#: the search as it was before issue 13's work (5 epochs, every architecture trained in
#: full, the grammar's own sampling probabilities)
TODAY = {"epochs": 5, "min_epochs": None, "stop_probability": None}
#: name -> search options (the new default is SearchConfig's defaults)
CONTENDERS = {
    "random": {"strategy": "random", **TODAY},
    "evolution (today)": {"strategy": "evolution", "mutation": "subtree",
                          "crossover_rate": 0.2, **TODAY},
    "default (new)": {},
}
BASELINE = "evolution (today)"
CHANCE = 0.2


def fresh_search(out: Path, options: dict):
    """A fresh search in ``out`` (the grammar alone: :data:`SETTING`, which ``options``
    may override, e.g. the task); its history."""
    shutil.rmtree(out, ignore_errors=True)
    run_search(SearchConfig(out=str(out), study="s", **{**SETTING, **options}))
    return SearchStudy.open(str(out / "study.journal"), "s", create=False).history()


def _search_job(job: tuple[Path, dict]):
    return fresh_search(*job)


def _searches(jobs: list[tuple[Path, dict]], parallel: int) -> list:
    """Histories of ``jobs`` (run dir, options), ``parallel`` searches at a time."""
    if parallel <= 1:
        return [fresh_search(*job) for job in jobs]
    # spawn: each search is a fresh process with its own torch thread settings
    with multiprocessing.get_context("spawn").Pool(parallel, maxtasksperchild=1) as pool:
        return pool.map(_search_job, jobs, chunksize=1)


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


def best_over_time(limit_s: float, seeds: list[int], parallel: int = 2) -> tuple[list, dict]:
    """Figure (c): rows of best-so-far val/test at time points, and the histories
    (contender -> one per seed)."""
    jobs = [(OUT / "search-quality" / f"{_slug(name)}-s{seed}",
             {**options, "seed": seed, "time_limit_s": limit_s, "budget": None})
            for seed in seeds for name, options in CONTENDERS.items()]
    found = iter(_searches(jobs, parallel))
    histories: dict[str, list] = {name: [] for name in CONTENDERS}
    for _seed in seeds:
        for name in CONTENDERS:
            histories[name].append(next(found))
    curves = {name: [curve(h) for h in runs] for name, runs in histories.items()}
    _write(curves, seeds, limit_s)
    what = load_note(f"einspace on digits, no references, --time-limit {limit_s:g} s, one "
                     f"worker per search, {parallel} searches at a time on 2 cores, medians "
                     f"of seeds {seeds}")
    rows = []
    for t in _time_points(limit_s):
        base = _median_at(curves[BASELINE], t)
        for name in CONTENDERS:
            val, test = _median_at(curves[name], t)
            rows.append({"figure": f"best val / its test after {t:.0f} s, {name}",
                         "value": round(val, 4), "test": round(test, 4), "unit": "accuracy",
                         "baseline": round(base[0], 4) if name != BASELINE else None,
                         "detail": what})
    start = min(300.0, limit_s / 2)
    rows.append({"figure": f"default (new) above {BASELINE} at every 10 s from {start:.0f} s",
                 "value": beats_baseline_after(curves["default (new)"], curves[BASELINE],
                                               start, limit_s),
                 "unit": "yes/no", "target": True, "detail": what + "; median best val"})
    return rows, histories


def _time_points(limit_s: float) -> list[float]:
    """Every minute from the fifth on (the issue's 'every time point after the first 5
    minutes'), or quarters of a short run."""
    if limit_s >= 600:
        return [60.0 * m for m in range(5, int(limit_s // 60) + 1)]
    return [limit_s * f for f in (0.25, 0.5, 0.75, 1.0)]


def beats_baseline_after(curves_new: list, curves_base: list, start_s: float,
                         end_s: float, step_s: float = 10.0) -> bool:
    """Whether the median best-so-far of ``curves_new`` is above the baseline's at every
    time point from ``start_s`` to ``end_s``."""
    t = start_s
    while t <= end_s:
        if not _median_at(curves_new, t)[0] > _median_at(curves_base, t)[0]:
            return False
        t += step_s
    return True


def _median_at(runs: list, t: float) -> tuple[float, float]:
    pairs = [at(points, t) for points in runs]
    vals = [v for v, _ in pairs if v == v]
    tests = [x for _, x in pairs if x == x]
    return (statistics.median(vals) if vals else float("nan"),
            statistics.median(tests) if tests else float("nan"))


def _slug(name: str) -> str:
    return name.split(" ")[0] + ("-today" if "today" in name else "")


def _write(curves: dict, seeds: list[int], limit_s: float) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "search_quality.csv", "w", newline="") as f:
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

    grid = [limit_s * k / 200 for k in range(201)]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, runs in curves.items():
        ax.plot(grid, [_median_at(runs, t)[0] for t in grid], label=name)
    ax.set_xlabel("seconds of search (one worker)")
    ax.set_ylabel("best validation accuracy so far (median)")
    ax.set_ylim(0.0, 1.0)
    ax.set_title("einspace on digits, no references")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "search_quality.png", dpi=120)
    plt.close(fig)


def origin_rows(histories: dict) -> list[dict]:
    """Figure (e): per origin, the median validation score of its children (pruned ones at
    the rung where they stopped count as their score there) and the share within 2 points
    of their parent or better."""
    rows = []
    for name, runs in histories.items():
        by_origin: dict[str, list[float]] = {}
        close: dict[str, list[bool]] = {}
        for history in runs:
            score = {r.arch_id: r.value for r in history.records
                     if r.finished and r.value is not None}
            for r in history.records:
                if not r.finished or r.value is None:
                    continue
                kind = str(r.user_attrs.get("origin", "?"))
                kind = "mutation:*" if kind.startswith("mutation:") else kind
                by_origin.setdefault(kind, []).append(r.value)
                parent = (r.user_attrs.get("parents") or [None])[0]
                if parent in score:
                    close.setdefault(kind, []).append(r.value >= score[parent] - 0.02)
        for kind, values in sorted(by_origin.items()):
            near = close.get(kind)
            rows.append({"figure": f"children from {kind}, {name}",
                         "value": round(statistics.median(values), 4), "unit": "median val",
                         "n": len(values),
                         "within 2 pts of parent": round(sum(near) / len(near), 2)
                         if near else None,
                         "detail": "all seeds of figure (c); a run stopped at a rung counts "
                                   "with its score there"})
    return rows


def screening_cost(budget: int, seed: int = 0, epochs: int = 5, tune_trials: int = 2
                   ) -> list[dict]:
    """Figure (d): median seconds spent on a chance-level architecture, without and with
    successive halving, on the same random proposals."""
    runs = {}
    for label, extra in (("full", {}), ("halving", {"min_epochs": 1})):
        runs[label] = fresh_search(OUT / "search-screening" / f"{label}-s{seed}",
                              {"seed": seed, "strategy": "random", "budget": budget,
                               "epochs": epochs, "tune_trials": tune_trials,
                               "stop_probability": None, "export": False,
                               **{"min_epochs": None, **extra}})
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


def run(quick: bool) -> list[dict]:
    """Rows for ``nas perf search_quality`` (``quick``: one seed, 150-s searches)."""
    if quick:
        rows, histories = best_over_time(150.0, seeds=[0])
        rows += origin_rows(histories)
        rows += screening_cost(budget=8)
        return rows
    rows, histories = best_over_time(600.0, seeds=[0, 1, 2])
    rows += origin_rows(histories)
    rows += screening_cost(budget=16)
    return rows
