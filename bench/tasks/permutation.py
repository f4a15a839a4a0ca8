"""``permutation-N``: learn one fixed, hidden permutation of N binary inputs.

Formulation: x is N independent fair bits, input ``(N,)``; the target is the same bits
reordered by a permutation ``pi`` that is fixed for the task (``y[i] = x[pi[i]]``).
``pi`` depends on N only (not on the split seed), so every seed poses the same problem
on fresh data; ``perm_seed`` picks another permutation.

The head is a ``regression`` head with N outputs read as logits, one per target bit;
the loss is binary cross-entropy with logits and the metric ``bit_accuracy`` (share of
output bits with the right sign, higher is better). A linear map solves the task
exactly, so it measures whether an architecture can route values across positions.
Rows are drawn i.i.d.: for N < 12 the 2^N possible inputs are few and splits overlap.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bench.tasks.base import Split, Task
from bench.tasks.catalog import PERMUTATION_SIZES
from bench.tasks.pointer import split_rng
from bench.tasks.prepare import standardize
from nas.errors import TaskError


class PermutationTask(Task):
    """Bitwise logits against 0/1 targets: BCE loss, bit-accuracy metric."""

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of each output logit against its target bit."""
        return F.binary_cross_entropy_with_logits(outputs, targets)

    @torch.no_grad()
    def score(self, outputs: torch.Tensor, split: Split) -> float:
        """Share of target bits predicted right (logit > 0 means 1)."""
        return float(((outputs > 0).float() == split.y).float().mean())


def hidden_permutation(n: int, perm_seed: int | None = None) -> np.ndarray:
    """The task's fixed permutation of ``range(n)`` (a function of ``n`` and ``perm_seed``)."""
    return np.random.default_rng([n, 0 if perm_seed is None else perm_seed + 1]).permutation(n)


def permutation_task(n: int, seed: int = 0, perm_seed: int | None = None,
                     n_train: int = PERMUTATION_SIZES[0], n_val: int = PERMUTATION_SIZES[1],
                     n_test: int = PERMUTATION_SIZES[2]) -> Task:
    """``permutation-N`` (see the module docstring)."""
    if not 2 <= n <= 4096:
        raise TaskError(f"permutation-N needs 2 <= N <= 4096 bits, got N={n}")
    perm = hidden_permutation(n, perm_seed)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    bits = {s: split_rng(seed, s, "perm").integers(0, 2, size=(m, n)).astype(np.float32)
            for s, m in sizes.items()}
    xs = dict(zip(sizes, standardize(bits["train"], bits["val"], bits["test"]), strict=True))
    splits = {s: Split(torch.from_numpy(xs[s]), torch.from_numpy(bits[s][:, perm].copy()))
              for s in sizes}
    return PermutationTask(
        name=f"permutation-{n}", description=f"apply a fixed hidden permutation to {n} bits",
        kind="regression", input_shape=(n,), n_outputs=n, metric="bit_accuracy",
        higher_is_better=True, seed=seed, **splits)
