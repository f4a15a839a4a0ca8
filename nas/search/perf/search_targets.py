"""``nas perf search_targets``: issue 13's targets for a search from the grammar alone,
each the issue's own command on 2 cores with the defaults of ``nas search``:

* ``nas search --grammar einspace --task digits --no-seed-references --time-limit 20m
  --workers 2``: the test accuracy of its best architecture against 98.5%, seeds 1-3.
  The best is what the command reports: the best by validation as trained in the
  search, or final selection's winner when ``--finalists`` is on;
* the same on ``mnist1d`` with ``--time-limit 60m``, against 98.5% (stretch 99.2%, a
  hand-designed 1-D CNN; the MNIST-1D paper's CNN row is 94%), seed 1.

**Baseline, in the same run**: the grammar's hand-written references for the task,
searched on the same split with the same training (``--seed-references``, a budget of
exactly the references, each trained in full): the test accuracy of the best of them by
validation. That is what the search had to beat when its best results came from the
references (issue 13). Each row also names the completed network with the best test
score (an oracle figure: what the search found, beside what its validation split let it
report).

Each run owns both cores, so the runs go one after another: the full suite takes about
two hours (``--quick``: one 5-minute digits run). The comparison with the search as it
was, in the same run, is ``search_quality``.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from nas.search.perf import load_note
from nas.search.perf.search_quality import SETTING, fresh_search
from nas.search.selection import load_selection
from nas.search.study import SearchStudy

OUT = Path("runs") / "perf" / "search-targets"
TARGET_TEST = 0.985
#: (task, time limit in seconds, seeds) of the full suite
FULL = (("digits", 1200.0, (1, 2, 3)), ("mnist1d", 3600.0, (1,)))
QUICK = (("digits", 300.0, (1,)),)


def target_run(task: str, limit_s: float, seed: int, workers: int = 2,
               options: dict | None = None) -> dict:
    """One run of the issue's command (a fresh study in ``OUT``, ``options`` added to
    it): what its best architecture scored, how the search got there, and the
    references' baseline on the same split (:func:`reference_run`)."""
    out = OUT / f"{task}-s{seed}"
    history = fresh_search(out, {"task": task, "seed": seed, "time_limit_s": limit_s,
                                 "budget": None, "workers": workers, **(options or {})})
    selection = load_selection(SearchStudy.open(str(out / "study.journal"), "s",
                                                create=False))
    by_val = history.best()
    winner = selection.winner_entry if selection else None
    # what the command reports: final selection's retrained winner when there is one
    # (--finalists), else the best by validation as searched
    retrained = selection is not None and selection.final_test_score is not None
    nan = float("nan")
    by_val_test = float(by_val.user_attrs.get("test_score", nan)) if by_val else nan
    return {"task": task, "seed": seed,
            "val": by_val.score if by_val else nan,
            "val-best test": by_val_test,
            "origin": by_val.user_attrs.get("origin") if by_val else None,
            "cv": winner.cv_score if winner else nan,
            "winner test": winner.test_score if winner else nan,
            "test": float(selection.final_test_score) if retrained else by_val_test,
            "retrained": retrained,
            "finalists": len(selection.finalists) if selection else 0,
            "arch": winner.arch if retrained else by_val.arch if by_val else None,
            "evaluations": len(history.evaluated),
            "stopped at a rung": history.counts()["pruned"],
            **best_completed(history),
            **reference_run(task, seed, workers)}


def best_completed(history) -> dict:
    """The completed network with the best test score, and its validation score: what
    the search found, whether or not its validation split could rank it first (an oracle
    figure, beside what the command reports; NaN when none has a test score)."""
    tested = [r for r in history.completed if r.user_attrs.get("test_score") is not None]
    if not tested:
        return {"best completed test": float("nan"), "its val": float("nan")}
    best = max(tested, key=lambda r: float(r.user_attrs["test_score"]))
    return {"best completed test": float(best.user_attrs["test_score"]),
            "its val": float(best.score)}


def reference_run(task: str, seed: int, workers: int = 2) -> dict:
    """The grammar's references for ``task``, searched like :func:`target_run` (same
    split and training) but trained in full and nothing else proposed: the test accuracy
    of the best by validation (NaN when the grammar has none for the task)."""
    from bench.tasks import get_task
    from nas.search.claims import matching_references
    from nas.space import load_space

    probe = get_task(task, seed=seed)
    names = [name for name, _ in matching_references(load_space(SETTING["grammar"]),
                                                     probe.input_shape, probe.head)]
    if not names:
        return {"references": 0, "reference": None, "reference test": float("nan")}
    history = fresh_search(OUT / f"{task}-s{seed}-references",
                           {"task": task, "seed": seed, "seed_references": True,
                            "strategy": "random", "budget": len(names), "min_epochs": None,
                            "workers": workers, "time_limit_s": None})
    best = history.best()
    origin = str(best.user_attrs.get("origin", "")) if best else ""
    return {"references": len(names), "reference": origin.removeprefix("reference:"),
            "reference test": float(best.user_attrs.get("test_score", "nan"))
            if best else float("nan")}


def target_rows(runs: list[dict], limit_s: float, workers: int = 2) -> list[dict]:
    """Rows of one task's runs: each seed, then the median against the target; the
    baseline is the best reference's test accuracy on the same split."""
    task = runs[0]["task"]
    command = (f"nas search --grammar einspace --task {task} --no-seed-references "
               f"--time-limit {limit_s / 60:g}m --workers {workers} --seed <seed>")
    rows = [{"figure": f"{task}: test accuracy of the best architecture, seed {r['seed']}",
             "value": round(r["test"], 4), "unit": "accuracy",
             "target": f">= {TARGET_TEST}",
             "baseline": round(r["reference test"], 4),
             "detail": f"{_reported(r)}; baseline: the best of the grammar's "
                       f"{r['references']} references by validation ({r['reference']}), "
                       f"same split and training; {r['evaluations']} evaluations, "
                       f"{r['stopped at a rung']} stopped at a rung; best completed "
                       f"network: test {r['best completed test']:.4f} (validation "
                       f"{r['its val']:.4f}); {r['arch']}"}
            for r in runs]
    tests = [r["test"] for r in runs]
    rows.append({"figure": f"{task}: test accuracy of the best architecture, median",
                 "value": round(statistics.median(tests), 4), "unit": "accuracy",
                 "target": f">= {TARGET_TEST}",
                 "baseline": round(statistics.median(r["reference test"] for r in runs), 4),
                 "n": len(tests), "met": sum(t >= TARGET_TEST for t in tests),
                 "detail": load_note(f"{command}, seeds {[r['seed'] for r in runs]}, "
                                     f"one run at a time on 2 cores; baseline: the "
                                     f"references")})
    return rows


def _reported(run: dict) -> str:
    """Which model the seed's figure is: final selection's winner, or the best by
    validation as searched."""
    if run["finalists"] and not run["retrained"]:
        return (f"final selection had no winner in time ({run['finalists']} finalists); "
                f"the best by validation ({run['val']:.4f}, {run['origin']}) as searched")
    if run["finalists"]:
        return (f"final selection's winner retrained on train + validation "
                f"(cross-validated {run['cv']:.4f} among {run['finalists']} finalists; "
                f"as searched {run['winner test']:.4f}; the best by validation "
                f"({run['val']:.4f}, {run['origin']}) as searched: "
                f"{run['val-best test']:.4f})")
    return f"the best by validation ({run['val']:.4f}, {run['origin']}) as searched"


def run(quick: bool) -> list[dict]:
    """Rows for ``nas perf search_targets`` (``quick``: one 5-minute digits run)."""
    rows = []
    for task, limit_s, seeds in QUICK if quick else FULL:
        rows += target_rows([target_run(task, limit_s, seed) for seed in seeds], limit_s)
    return rows
