"""Pareto fronts of a score against one cost (parameters, latency, ...)."""

from __future__ import annotations

import numpy as np


def pareto_mask(scores, costs, maximize: bool = True) -> np.ndarray:
    """Flag the points that no other point dominates.

    Point ``j`` dominates point ``i`` when ``cost_j <= cost_i`` and its score is at least
    as good, one of the two strictly. Identical points do not dominate each other, so
    both stay on the front. Points with a NaN score or cost are never on the front and
    dominate nothing.

    Args:
        scores: one score per point (higher is better when ``maximize``).
        costs: one cost per point, lower is better (params, latency).
        maximize: whether a higher score is better (accuracy) or a lower one (RMSE).

    Returns:
        A boolean array, True for the points on the front. O(n log n).

    Raises:
        ValueError: when ``scores`` and ``costs`` differ in length.
    """
    s = np.asarray(scores, dtype=float)
    c = np.asarray(costs, dtype=float)
    if s.shape != c.shape or s.ndim != 1:
        raise ValueError(f"scores and costs must be 1-D of one length, got {s.shape} and {c.shape}")
    mask = np.zeros(len(s), dtype=bool)
    good = np.flatnonzero(~(np.isnan(s) | np.isnan(c)))
    if good.size == 0:
        return mask
    gain = s[good] if maximize else -s[good]
    # Sweep by cost; within one cost only the best score can survive, and it survives
    # only if it beats everything strictly cheaper.
    order = np.lexsort((-gain, c[good]))
    cost_sorted, gain_sorted = c[good][order], gain[order]
    starts = np.flatnonzero(np.r_[True, cost_sorted[1:] != cost_sorted[:-1]])
    best_cheaper = -np.inf
    for k, start in enumerate(starts):
        top = gain_sorted[start]
        if top > best_cheaper:
            end = starts[k + 1] if k + 1 < len(starts) else len(order)
            ties = start + np.flatnonzero(gain_sorted[start:end] == top)
            mask[good[order[ties]]] = True
            best_cheaper = top
    return mask
