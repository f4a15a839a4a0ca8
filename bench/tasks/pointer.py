"""Pointer tasks for Ptr-Nets: sorting and planar convex hulls (TSP lives in ``tsp.py``).

Items are the rows of the input: ``x`` is ``(B, N, d)``. The head outputs ``(B, N, N)``
scores, row ``i`` = decode step ``i`` over the ``N`` items; targets are ``(B, N)`` int64
item indices (see ``base.py``).

* ``sort-N``: N values uniform on [0, 1], input ``(N, 1)``; target = the indices in
  ascending order of value. Metric: sequence accuracy (every step right).
* ``convex-hull-N``: N points uniform on the unit square, input ``(N, 2)``; target = the
  hull vertices in counter-clockwise order starting from the hull vertex with the lowest
  index, then padded to length N by repeating that first vertex (the pointer "closes" the
  polygon, as Ptr-Net's end-of-sequence does). Metric: sequence accuracy over all N
  steps, i.e. the exact hull in order (Ptr-Net's "accuracy").

Each split is generated from its own seeded stream, so train/val/test are fixed by the
seed and disjoint with probability one. Inputs are standardised per coordinate with
train statistics; the raw values stay in ``split.extra["points"]``.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.tasks.base import Split, Task
from bench.tasks.catalog import POINTER_SIZES
from bench.tasks.prepare import standardize
from nas.errors import TaskError

_SPLIT_STREAM = {"train": 0, "val": 1, "test": 2}


def split_rng(seed: int, split: str, family: str) -> np.random.Generator:
    """An independent, seeded random stream for one split of one task family."""
    family_key = int.from_bytes(family.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.default_rng([seed, _SPLIT_STREAM[split], family_key])


def check_items(family: str, n: int, low: int, high: int) -> None:
    """Raise TaskError unless ``low <= n <= high`` items."""
    if not low <= n <= high:
        raise TaskError(f"{family}-N needs {low} <= N <= {high} items, got N={n}")


def pointer_task(name: str, description: str, raw: dict[str, np.ndarray],
                 targets: dict[str, np.ndarray], seed: int, metric: str = "sequence_accuracy",
                 higher_is_better: bool = True, cls: type[Task] = Task,
                 extra: dict[str, dict] | None = None) -> Task:
    """Assemble a pointer Task from raw item arrays and target tours per split."""
    x_tr, x_va, x_te = standardize(raw["train"], raw["val"], raw["test"])
    xs = {"train": x_tr, "val": x_va, "test": x_te}
    extra = extra or {}
    splits = {
        s: Split(torch.from_numpy(xs[s]), torch.from_numpy(targets[s].astype(np.int64)),
                 {"points": torch.from_numpy(raw[s].astype(np.float32)), **extra.get(s, {})})
        for s in ("train", "val", "test")
    }
    n = raw["train"].shape[1]
    return cls(name=name, description=description, kind="pointer",
               input_shape=tuple(raw["train"].shape[1:]), n_outputs=n, metric=metric,
               higher_is_better=higher_is_better, seed=seed, **splits)


def sort_task(n: int, seed: int = 0, n_train: int = POINTER_SIZES[0],
              n_val: int = POINTER_SIZES[1], n_test: int = POINTER_SIZES[2]) -> Task:
    """``sort-N``: point at the N values in ascending order."""
    check_items("sort", n, 2, 100)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    raw = {s: split_rng(seed, s, "sort").uniform(0, 1, size=(m, n, 1)) for s, m in sizes.items()}
    targets = {s: np.argsort(r[:, :, 0], axis=1, kind="stable") for s, r in raw.items()}
    return pointer_task(f"sort-{n}", f"sort {n} numbers uniform on [0,1] (pointer)",
                        raw, targets, seed)


def convex_hull_task(n: int, seed: int = 0, n_train: int = POINTER_SIZES[0],
                     n_val: int = POINTER_SIZES[1], n_test: int = POINTER_SIZES[2]) -> Task:
    """``convex-hull-N``: point at the hull vertices, CCW from the lowest index, padded."""
    check_items("convex-hull", n, 3, 100)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    raw = {s: split_rng(seed, s, "hull").uniform(0, 1, size=(m, n, 2)) for s, m in sizes.items()}
    targets = {s: np.stack([hull_target(p) for p in r]) for s, r in raw.items()}
    return pointer_task(f"convex-hull-{n}",
                        f"convex hull of {n} points on the unit square (pointer, padded)",
                        raw, targets, seed)


def convex_hull(points: np.ndarray) -> list[int]:
    """Indices of the convex hull of ``points`` (n, 2), counter-clockwise.

    Andrew's monotone chain; collinear points on an edge are not vertices.
    """
    pts = points.tolist()  # Python floats: this loop is ~10x faster than on numpy scalars
    order = sorted(range(len(pts)), key=lambda i: (pts[i][0], pts[i][1]))

    def half(indices: list[int]) -> list[int]:
        chain: list[int] = []
        for i in indices:
            while len(chain) >= 2 and _cross(pts[chain[-2]], pts[chain[-1]], pts[i]) <= 0:
                chain.pop()
            chain.append(i)
        return chain

    lower, upper = half(order), half(order[::-1])
    return lower[:-1] + upper[:-1]


def hull_target(points: np.ndarray) -> np.ndarray:
    """The fixed-length pointer target of one instance: CCW hull from its lowest index,
    padded to ``len(points)`` by repeating that first vertex."""
    hull = convex_hull(points)
    start = hull.index(min(hull))
    hull = hull[start:] + hull[:start]
    return np.array(hull + [hull[0]] * (len(points) - len(hull)), dtype=np.int64)


def _cross(o: list[float], a: list[float], b: list[float]) -> float:
    """z of (a - o) x (b - o): > 0 when o -> a -> b turns counter-clockwise."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def decode_permutation(scores: torch.Tensor) -> torch.Tensor:
    """Greedy masked decoding: ``(B, N, N)`` step scores to a ``(B, N)`` permutation.

    At each step the highest-scoring item not chosen before is taken, so the result is
    always a valid permutation (a repeated item in the raw argmax is *repaired*: replaced
    by the best unused item). Ptr-Nets decode the same way at inference.
    """
    b, steps, n = scores.shape
    used = torch.zeros(b, n, dtype=torch.bool, device=scores.device)
    out = torch.empty(b, steps, dtype=torch.int64, device=scores.device)
    rows = torch.arange(b, device=scores.device)
    for i in range(steps):
        pick = scores[:, i].float().masked_fill(used, -torch.inf).argmax(-1)
        out[:, i] = pick
        used[rows, pick] = True
    return out
