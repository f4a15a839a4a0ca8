"""Search-efficiency figures of ``nas perf predictor`` (issue 5).

* **Evaluations to reach random search's best-of-60**: random search evaluates 60
  architectures; predictor-guided search (``--strategy predictor``, same grammar, task,
  seed and training budget) runs until one of its evaluations scores at least as well
  as random search's best, or until its cap (60; 30 in quick mode). The figure is the
  median over seeds of the evaluations it needed (target <= 20). The baseline, from the
  same random runs, is how many evaluations random search itself needed to find its
  best. A run that never reaches the target counts as cap + 1.
* **Best validation score after 20 evaluations**, both strategies, medians over seeds.
* **Seconds per proposal** of :class:`~nas.search.predictor_strategy.PredictorStrategy`
  with 64 candidates: proposals made in order along a growing history, after the first
  (which encodes the whole pool once per process), wall clock and process CPU time.
  For ffn on the benchmark's own predictor-search history, and for einspace on digits
  (large graphs: the exporter dominates) on a history of sampled architectures scored
  by their parameter count.

The setting is chosen to be cheap and still sensitive to the architecture: the ffn
grammar on digits, one tuning trial of 1 epoch (about 0.05-0.3 s of training per
architecture), no ONNX export. Runs go to ``runs/perf/predictor-search/``; the predictor
search resumes run by run (budget 20, then +10), which gives the same proposals as one
run because they depend only on the study and the seed.
"""

from __future__ import annotations

import math
import random
import shutil
import statistics
import time
from pathlib import Path

from bench.tasks import get_task
from nas.search import SearchConfig, run_search
from nas.search.history import History, TrialRecord
from nas.search.predictor_strategy import PredictorStrategy
from nas.search.study import SearchStudy
from nas.space import load_space
from predictors.shipped import default_predictor_path

OUT = Path("runs") / "perf" / "predictor-search"
SETTING = {"grammar": "ffn", "task": "digits", "epochs": 1, "tune_trials": 1,
           "trial_seconds": 30.0, "export": False, "seed_references": False}
RANDOM_BUDGET = 60
TARGET_EVALUATIONS = 20
CANDIDATES = 64


def search_efficiency(quick: bool) -> list[dict]:
    """Rows of the evaluations-to-reach and best-after-20 figures (medians over seeds)."""
    seeds, cap = ([0], 30) if quick else ([0, 1, 2, 3, 4], 60)
    needed, own, best20 = [], [], {"random": [], "predictor": []}
    for seed in seeds:
        baseline = _run(OUT / f"random-s{seed}", "random", RANDOM_BUDGET, seed)
        curve = best_so_far(baseline)
        target = curve[-1]
        own.append(_first_reaching(curve, target, baseline.maximize))
        guided = _guided_until(target, seed, cap)
        needed.append(_first_reaching(best_so_far(guided), target, guided.maximize,
                                      missing=cap + 1))
        best20["random"].append(curve[TARGET_EVALUATIONS - 1])
        best20["predictor"].append(best_so_far(guided)[TARGET_EVALUATIONS - 1])
    what = (f"ffn on digits, 1 tuning trial x 1 epoch, seeds {seeds}, {CANDIDATES} "
            f"candidates, warm start: {_warm_start()}; per seed: {needed} (cap {cap})")
    return [
        {"figure": "evaluations for predictor-guided search to reach random search's "
                   "best-of-60", "value": statistics.median(needed), "unit": "evaluations",
         "baseline": statistics.median(own),
         "baseline_is": "evaluations random search needed to find its own best",
         "target": f"<= {TARGET_EVALUATIONS}", "detail": what},
        {"figure": "best validation accuracy after 20 evaluations, predictor-guided",
         "value": statistics.median(best20["predictor"]), "unit": "accuracy",
         "baseline": statistics.median(best20["random"]), "baseline_is": "random search",
         "detail": what},
    ]


def proposal_seconds(quick: bool) -> list[dict]:
    """Rows of the seconds-per-proposal figures (medians over consecutive proposals)."""
    steps = 3 if quick else 8
    rows = []
    study = OUT / "predictor-s0"
    if (study / "study.journal").is_file():
        history = SearchStudy.open(str(study / "study.journal"), study.name,
                                   create=False).history()
        rows.append(_proposal_row("ffn", "digits", list(history.evaluated), steps))
    rows.append(_proposal_row("einspace", "digits", None, steps))
    return rows


# --- searches -------------------------------------------------------------------------


def _run(out: Path, strategy: str, budget: int, seed: int, fresh: bool = True):
    """Run (or, with ``fresh=False``, extend) one search; returns its history."""
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
    config = SearchConfig(out=str(out), study=out.name, strategy=strategy, budget=budget,
                          seed=seed, candidates=CANDIDATES, **SETTING)
    run_search(config)
    return SearchStudy.open(str(out / "study.journal"), out.name, create=False).history()


def _guided_until(target: float, seed: int, cap: int):
    """Predictor-guided search, extended by 10 evaluations until one reaches ``target``
    (at least 20 evaluations, at most ``cap``)."""
    out = OUT / f"predictor-s{seed}"
    budget = min(TARGET_EVALUATIONS, cap)
    history = _run(out, "predictor", budget, seed)
    while budget < cap and _first_reaching(best_so_far(history), target,
                                           history.maximize) is None:
        budget = min(cap, budget + 10)
        history = _run(out, "predictor", budget, seed, fresh=False)
    return history


def best_so_far(history) -> list[float]:
    """Best validation score after each evaluation (NaN until one completes)."""
    curve, best = [], float("nan")
    sign = 1.0 if history.maximize else -1.0
    for record in history.evaluated:
        if record.score is not None and (math.isnan(best) or sign * record.score > sign * best):
            best = record.score
        curve.append(best)
    return curve


def _first_reaching(curve: list[float], target: float, maximize: bool,
                    missing: int | None = None) -> int | None:
    """1-based evaluation at which ``curve`` first reaches ``target`` (else ``missing``)."""
    for i, value in enumerate(curve):
        if not math.isnan(value) and (value >= target if maximize else value <= target):
            return i + 1
    return missing


def _warm_start() -> str:
    return "the shipped default predictor" if default_predictor_path().is_file() else \
        "random (no default predictor shipped)"


# --- time per proposal ------------------------------------------------------------------


def _proposal_row(grammar: str, task_name: str, records, steps: int) -> dict:
    """Median seconds of ``steps`` consecutive proposals after a first, cold one."""
    space, task = load_space(grammar), get_task(task_name, seed=0)
    if records is None:
        records = _sampled_records(space, task, 12 + steps)
    start = max(8, len(records) - steps - 1)
    strategy = PredictorStrategy(space, task.input_shape, task.head, candidates=CANDIDATES,
                                 default_predictor=False)
    wall, cpu = [], []
    for k in range(start, min(len(records), start + steps + 1)):
        history = History.of(records[:k], maximize=True)
        began, cpu_began = time.perf_counter(), time.process_time()
        strategy.propose(history, random.Random(k))
        if k > start:  # the first proposal encodes the whole pool and the history
            wall.append(time.perf_counter() - began)
            cpu.append(time.process_time() - cpu_began)
    return {"figure": f"seconds per proposal, {grammar} on {task_name}, {CANDIDATES} "
                      "candidates", "value": statistics.median(wall),
            "value_cpu_time": statistics.median(cpu), "unit": "s",
            "target": "a few seconds", "n": len(wall),
            "detail": f"after a first proposal with {start} results; study predictor"}


def _sampled_records(space, task, n: int):
    """``n`` completed records of distinct sampled architectures scored by log(params)."""
    found, seed = {}, 0
    while len(found) < n:
        arch = space.sample(task.input_shape, seed=seed, head=task.head)
        found.setdefault(arch.id, arch)
        seed += 1
    return [TrialRecord(trial_id=i, number=i, state="COMPLETE",
                        value=math.log(space.check(a, task.input_shape, task.head).params),
                        arch=str(a), arch_id=a.id)
            for i, a in enumerate(found.values())]
