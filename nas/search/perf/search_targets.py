"""``nas perf search_targets``: issue 13's targets for a search from the grammar alone,
each the issue's own command on 2 cores with the defaults of ``nas search``:

* ``nas search --grammar einspace --task digits --no-seed-references --time-limit 20m
  --workers 2``: the test accuracy of its best architecture (by validation) against
  98.5% (the grammar's reference CNNs reach 98.3-99.2%), seeds 1-3;
* the same on ``mnist1d`` with ``--time-limit 60m``, against 98.5% (stretch 99.2%, a
  hand-designed 1-D CNN; the MNIST-1D paper's CNN row is 94%), seed 1.

Each run owns both cores, so the runs go one after another: the full suite takes about
two hours (``--quick``: one 5-minute digits run). The targets are absolute; the
comparison with the search as it was, in the same run, is ``search_quality``.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from nas.search.perf import load_note
from nas.search.perf.search_quality import fresh_search

OUT = Path("runs") / "perf" / "search-targets"
TARGET_TEST = 0.985
#: (task, time limit in seconds, seeds) of the full suite
FULL = (("digits", 1200.0, (1, 2, 3)), ("mnist1d", 3600.0, (1,)))
QUICK = (("digits", 300.0, (1,)),)


def target_run(task: str, limit_s: float, seed: int, workers: int = 2) -> dict:
    """One run of the issue's command (a fresh study in ``OUT``): what its best
    architecture scored and how the search got there."""
    history = fresh_search(OUT / f"{task}-s{seed}",
                           {"task": task, "seed": seed, "time_limit_s": limit_s,
                            "budget": None, "workers": workers})
    best = history.best()
    counts = history.counts()
    return {"task": task, "seed": seed,
            "val": best.score if best else float("nan"),
            "test": float(best.user_attrs.get("test_score", float("nan"))) if best
            else float("nan"),
            "origin": best.user_attrs.get("origin") if best else None,
            "arch": best.arch if best else None,
            "evaluations": len(history.evaluated), "stopped at a rung": counts["pruned"]}


def target_rows(runs: list[dict], limit_s: float, workers: int = 2) -> list[dict]:
    """Rows of one task's runs: each seed, then the median against the target."""
    task = runs[0]["task"]
    command = (f"nas search --grammar einspace --task {task} --no-seed-references "
               f"--time-limit {limit_s / 60:g}m --workers {workers} --seed <seed>")
    rows = [{"figure": f"{task}: test accuracy of the best architecture, seed {r['seed']}",
             "value": round(r["test"], 4), "unit": "accuracy",
             "target": f">= {TARGET_TEST}",
             "detail": f"best validation {r['val']:.4f} ({r['origin']}); "
                       f"{r['evaluations']} evaluations, {r['stopped at a rung']} stopped "
                       f"at a rung; {r['arch']}"}
            for r in runs]
    tests = [r["test"] for r in runs]
    rows.append({"figure": f"{task}: test accuracy of the best architecture, median",
                 "value": round(statistics.median(tests), 4), "unit": "accuracy",
                 "target": f">= {TARGET_TEST}",
                 "n": len(tests), "met": sum(t >= TARGET_TEST for t in tests),
                 "detail": load_note(f"{command}, seeds {[r['seed'] for r in runs]}, "
                                     f"one run at a time on 2 cores")})
    return rows


def run(quick: bool) -> list[dict]:
    """Rows for ``nas perf search_targets`` (``quick``: one 5-minute digits run)."""
    rows = []
    for task, limit_s, seeds in QUICK if quick else FULL:
        rows += target_rows([target_run(task, limit_s, seed) for seed in seeds], limit_s)
    return rows
