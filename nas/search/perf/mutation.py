"""``nas perf mutation``: how close a child scores to its parent, per way of making it.

On a fixed set of good parents (einspace's reference architectures that take digits'
1x8x8 images), every parent and each of its children is trained the same way as a
search evaluates it (one tuning trial, i.e. the default hyperparameters, ``EPOCHS``
epochs, seed 0) and scored on validation accuracy. For each way of making children:

* ``subtree``: einspace's mutation (:meth:`nas.space.Space.mutate`, any subtree, the
  root included), today's baseline;
* ``small``: one small edit (:func:`nas.mutation.small_mutation`);
* ``crossover``: :meth:`nas.space.Space.crossover` of two parents (compared with the
  better one);
* ``random``: fresh grammar samples, compared with the parents' median (what a child
  that has forgotten its parent scores);

the figures are the share of children within 2 points of their parent (|child -
parent| <= 0.02), the share at least as good as the parent minus 2 points, and the
median child score. Children are seeded (seed, parent, k), so a run is repeatable up to
training noise.
"""

from __future__ import annotations

import random
import statistics

import optuna
import torch

from bench.tasks import get_task
from bench.training import Budget
from bench.tuning import tune_architecture
from nas.builder import build_model
from nas.errors import NasError
from nas.mutation import small_mutation
from nas.search.perf import load_note
from nas.space import load_space

EPOCHS = 4
WITHIN = 0.02
METHODS = ("subtree", "small", "crossover", "random")


def good_parents(space, task) -> dict[str, object]:
    """The grammar's reference architectures whose input shape is the task's."""
    return {name: arch for name, (arch, shape) in space.references().items()
            if tuple(shape) == tuple(task.input_shape)}


def score(arch, space, task, seed: int = 0) -> float:
    """Validation score of ``arch`` trained as a search evaluates it (NaN if it fails)."""
    try:
        tuned = tune_architecture(lambda: build_model(arch, space, task.input_shape, task.head),
                                  task, n_trials=1, seed=seed,
                                  budget=Budget(max_epochs=EPOCHS, max_seconds=120))
    except (NasError, RuntimeError, ValueError):
        return float("nan")
    return float(tuned.best_val)


def children(method: str, space, task, parents: dict, n: int) -> list[tuple[object, list]]:
    """(child, names of its parents) made by ``method``: ``n`` per parent (crossover and
    random: ``n`` per parent too, over all pairs / none)."""
    names, shape, head = sorted(parents), task.input_shape, task.head
    made = []
    for i, name in enumerate(names):
        for k in range(n):
            rng = random.Random(f"perf-mutation/{method}/{name}/{k}")
            if method == "subtree":
                made.append((space.mutate(parents[name], shape, rng, head), [name]))
            elif method == "small":
                made.append((small_mutation(space, parents[name], shape, rng, head).arch,
                             [name]))
            elif method == "crossover":
                other = names[(i + 1 + k % max(1, len(names) - 1)) % len(names)]
                made.append((space.crossover(parents[name], parents[other], shape, rng,
                                             head), [name, other]))
            else:
                made.append((space.sample(shape, rng, head), names))
    return made


def locality(quick: bool) -> list[dict]:
    """Rows: per method, share of children within 2 points of their parent."""
    space, task = load_space("einspace"), get_task("digits", seed=0)
    parents = good_parents(space, task)
    n = 4 if quick else 10
    parent_scores = {name: score(arch, space, task) for name, arch in parents.items()}
    rows = []
    for method in METHODS:
        deltas, scores = [], []
        for child, names in children(method, space, task, parents, n):
            value = score(child, space, task)
            ref = (statistics.median(parent_scores[p] for p in names) if method == "random"
                   else max(parent_scores[p] for p in names))
            scores.append(value)
            deltas.append(value - ref if value == value else -1.0)  # a failure is far
        rows += _rows(method, deltas, scores, parent_scores, n)
    return rows


def _rows(method: str, deltas: list[float], scores: list[float], parents: dict,
          n: int) -> list[dict]:
    near = sum(abs(d) <= WITHIN for d in deltas) / len(deltas)
    kept = sum(d >= -WITHIN for d in deltas) / len(deltas)
    finite = [s for s in scores if s == s]
    what = load_note(
        f"einspace on digits, parents {', '.join(f'{k} {v:.3f}' for k, v in parents.items())}; "
        f"{len(deltas)} children ({n} per parent), 1 tuning trial x {EPOCHS} epochs, seed 0")
    baseline = "subtree" if method != "subtree" else None
    return [
        {"figure": f"children within 2 points of their parent, {method}", "value": near,
         "unit": "share", "baseline_method": baseline, "detail": what},
        {"figure": f"children no more than 2 points below their parent, {method}",
         "value": kept, "unit": "share", "detail": what},
        {"figure": f"median child validation accuracy, {method}",
         "value": statistics.median(finite) if finite else float("nan"),
         "unit": "accuracy", "detail": f"{len(finite)} of {len(scores)} trained"},
    ]


def run(quick: bool) -> list[dict]:
    """Rows for ``nas perf mutation`` (``quick``: 4 children per parent and method)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return locality(quick)
    finally:
        torch.set_num_threads(threads)
