"""``tsp-N``: planar travelling salesman with exact optimal tours (Held-Karp, N <= 10).

Cities are uniform on the unit square, input ``(N, 2)``. The target is the optimal tour
as ``(N,)`` city indices, in one canonical form: it starts at city 0 and of its two
directions takes the one whose second city has the lower index (``tour[1] < tour[-1]``).

Metric ``tour_ratio`` (lower is better, 1.0 = optimal): mean predicted tour length over
mean optimal tour length (the Ptr-Net paper compares average tour lengths the same way).
The predicted tour is decoded greedily from the ``(B, N, N)`` step scores, skipping
cities already visited (:func:`bench.tasks.pointer.decode_permutation`): an invalid raw
prediction (a repeated city) is thus *repaired* into a valid tour, never scored as is.
A tour is a cycle, so its start city and direction do not change its length.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.tasks.base import Split, Task
from bench.tasks.catalog import POINTER_SIZES
from bench.tasks.pointer import (
    check_items,
    decode_permutation,
    pointer_task,
    split_rng,
)

MAX_EXACT_CITIES = 10
_CHUNK = 1024  # instances solved together: dp is 2^(N-1) x (N-1) x chunk floats (~37 MB)


class TourTask(Task):
    """A pointer task scored by tour length relative to the optimal tour."""

    @torch.no_grad()
    def score(self, outputs: torch.Tensor, split: Split) -> float:
        """Mean length of the greedily decoded (repaired) tours / mean optimal length."""
        tours = decode_permutation(outputs.cpu())
        lengths = tour_lengths(split.extra["points"].double(), tours)
        return float(lengths.mean() / split.extra["optimal_length"].double().mean())


def tsp_task(n: int, seed: int = 0, n_train: int = POINTER_SIZES[0],
             n_val: int = POINTER_SIZES[1], n_test: int = POINTER_SIZES[2]) -> Task:
    """``tsp-N`` with its exact optimal tours as targets (see the module docstring)."""
    check_items("tsp", n, 3, MAX_EXACT_CITIES)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    raw = {s: split_rng(seed, s, "tsp").uniform(0, 1, size=(m, n, 2)) for s, m in sizes.items()}
    solved = {s: optimal_tours(r) for s, r in raw.items()}
    targets = {s: tours for s, (tours, _) in solved.items()}
    extra = {s: {"optimal_length": torch.from_numpy(lengths)} for s, (_, lengths) in solved.items()}
    return pointer_task(f"tsp-{n}", f"travelling salesman, {n} cities on the unit square, "
                        "exact optimal tours (pointer)", raw, targets, seed, metric="tour_ratio",
                        higher_is_better=False, cls=TourTask, extra=extra)


def tour_lengths(points: torch.Tensor | np.ndarray, tours: torch.Tensor | np.ndarray):
    """Closed-tour lengths: ``points`` (B, N, 2), ``tours`` (B, N) city indices -> (B,)."""
    if isinstance(points, np.ndarray):
        ordered = np.take_along_axis(points, tours[:, :, None], axis=1)
        return np.linalg.norm(ordered - np.roll(ordered, -1, axis=1), axis=-1).sum(-1)
    ordered = torch.gather(points, 1, tours[:, :, None].expand(-1, -1, points.shape[-1]))
    return (ordered - ordered.roll(-1, dims=1)).norm(dim=-1).sum(-1)


def optimal_tours(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact optimal tours of ``points`` (B, N, 2): ``(tours (B, N) int64, lengths (B,))``.

    Tours are in the canonical form of the module docstring.
    """
    parts = [_held_karp(points[i:i + _CHUNK]) for i in range(0, len(points), _CHUNK)]
    tours = np.concatenate([p[0] for p in parts])
    return _canonical(tours), np.concatenate([p[1] for p in parts])


def _held_karp(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Held-Karp dynamic programme, vectorised over instances (B = len(points)).

    ``dp[mask, j]`` = shortest path from city 0 through the cities of ``mask`` (bits
    over cities 1..N-1) ending at city ``j + 1``; unreachable states stay +inf, so a
    state's predecessors can be read without masking.
    """
    d = np.linalg.norm(points[:, :, None] - points[:, None, :], axis=-1)  # (B, N, N)
    b, n = d.shape[:2]
    m = n - 1
    bits = 1 << np.arange(m)
    dp = np.full((1 << m, m, b), np.inf)
    parent = np.zeros((1 << m, m, b), dtype=np.int8)
    step = d[:, 1:, 1:].transpose(1, 2, 0)  # (m, m, B): step[k, j] = d(city k+1, city j+1)
    dp[bits, np.arange(m)] = d[:, 0, 1:].T
    for mask in range(1, 1 << m):
        ends = np.flatnonzero(mask & bits)
        if len(ends) < 2:
            continue
        # cand[e, k] = dp[mask without end e, k] + d(k -> e): (E, m, B)
        cand = dp[mask ^ bits[ends]] + step[:, ends].transpose(1, 0, 2)
        best = cand.argmin(axis=1)
        dp[mask, ends] = np.take_along_axis(cand, best[:, None], axis=1)[:, 0]
        parent[mask, ends] = best
    closing = dp[-1] + d[:, 1:, 0].T  # (m, B): back to city 0
    last = closing.argmin(axis=0)
    lengths = closing[last, np.arange(b)]
    return _walk_back(parent, last, n), lengths


def _walk_back(parent: np.ndarray, last: np.ndarray, n: int) -> np.ndarray:
    """Rebuild tours (B, N) from the DP's predecessor table and each tour's last city."""
    b = len(last)
    rows = np.arange(b)
    tours = np.zeros((b, n), dtype=np.int64)
    mask = np.full(b, (1 << (n - 1)) - 1)
    city = last.astype(np.int64)
    for pos in range(n - 1, 0, -1):
        tours[:, pos] = city + 1
        prev = parent[mask, city, rows].astype(np.int64)
        mask = mask ^ (1 << city)
        city = prev
    return tours


def _canonical(tours: np.ndarray) -> np.ndarray:
    """Start at city 0 (already so) and orient each tour so that ``tour[1] < tour[-1]``."""
    flip = tours[:, 1] > tours[:, -1]
    tours = tours.copy()
    tours[flip, 1:] = tours[flip, 1:][:, ::-1]
    return tours
