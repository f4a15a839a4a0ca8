"""Arrays to a :class:`Task`: a seeded split, standardisation with train statistics, tensors.

Every built-in and user task goes through these helpers, so all of them follow one rule:
the split is a function of the seed alone, and every statistic used to transform inputs
(mean, standard deviation) or regression targets is computed on the training rows only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bench.tasks.base import Split, Task
from bench.tasks.catalog import VAL_FRACTION, Reference, split_sizes


@dataclass
class RegressionTask(Task):
    """A regression task whose targets were standardised with train statistics.

    The model is trained on standardised targets (so that one learning-rate range fits
    every task), but :meth:`score` reports RMSE in the original units of the targets:
    errors are multiplied back by each target's train standard deviation ``target_std``
    (the shift by the mean cancels in a difference).
    """

    target_std: tuple[float, ...] = ()

    @torch.no_grad()
    def score(self, outputs: torch.Tensor, split: Split) -> float:
        """RMSE over all rows and targets, in the targets' original units."""
        std = torch.tensor(self.target_std or (1.0,), dtype=outputs.dtype)
        err = (outputs.reshape(split.y.shape) - split.y) * std
        return float(torch.sqrt(torch.mean(err * err)))


def split_indices(n: int, n_val: int, n_test: int, seed: int,
                  stratify: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Seeded ``(train, val, test)`` row indices; stratified by ``stratify`` when it can be.

    Stratification needs at least two rows per class in each cut; when a class is rarer
    than that the split falls back to a plain seeded shuffle (still a function of the seed).
    """
    from sklearn.model_selection import train_test_split  # lazy: a 1 s import

    rows = np.arange(n)
    try:
        rest, test = train_test_split(rows, test_size=n_test, random_state=seed,
                                      stratify=stratify)
        strat_rest = None if stratify is None else stratify[rest]
        train, val = train_test_split(rest, test_size=n_val, random_state=seed + 1,
                                      stratify=strat_rest)
    except ValueError:
        if stratify is None:
            raise
        return split_indices(n, n_val, n_test, seed, stratify=None)
    return np.sort(train), np.sort(val), np.sort(test)


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Standardise per channel with the mean/std of ``train`` only; returns float32 arrays.

    Channels: the feature axis of vectors ``(n, D)``, the last axis of sequences
    ``(n, S, D)``, axis 1 of images ``(n, C, H, W)``. A constant channel keeps std 1.
    """
    channel = 1 if train.ndim == 4 else train.ndim - 1
    axes = tuple(a for a in range(train.ndim) if a != channel)
    mean = train.mean(axis=axes, keepdims=True)
    std = train.std(axis=axes, keepdims=True)
    std = np.where(std < 1e-8, 1.0, std)
    return [((a - mean) / std).astype(np.float32) for a in (train, *others)]


def make_classification_task(name: str, description: str, x: np.ndarray, y: np.ndarray,
                             seed: int, sizes: tuple[int, int, int] | None = None,
                             references: tuple[Reference, ...] = (),
                             fixed_test: tuple[np.ndarray, np.ndarray] | None = None,
                             augmentation: str | None = None) -> Task:
    """A classification task over ``x`` (n, *input_shape) and integer labels ``y`` (n,).

    ``sizes`` = (n_train, n_val, n_test) of a stratified seeded split (default fractions).
    With ``fixed_test`` = (x_test, y_test), the test rows are those (a published split)
    and only validation is carved from ``x``.
    """
    y = np.asarray(y, dtype=np.int64)
    if fixed_test is None:
        _, n_val, n_test = sizes or split_sizes(len(x))
        tr, va, te = split_indices(len(x), n_val, n_test, seed, stratify=y)
        x_te, y_te = x[te], y[te]
    else:
        n_val = sizes[1] if sizes else round(len(x) * VAL_FRACTION)
        tr, va = _train_val(len(x), n_val, seed, y)
        x_te, y_te = fixed_test[0], np.asarray(fixed_test[1], dtype=np.int64)
    x_tr, x_va, x_te = standardize(x[tr], x[va], x_te)
    return Task(
        name=name, description=description, kind="classification",
        input_shape=tuple(x.shape[1:]), n_outputs=int(y.max()) + 1, metric="accuracy",
        higher_is_better=True,
        train=Split(torch.from_numpy(x_tr), torch.from_numpy(y[tr])),
        val=Split(torch.from_numpy(x_va), torch.from_numpy(y[va])),
        test=Split(torch.from_numpy(x_te), torch.from_numpy(y_te)),
        seed=seed, references=references, augmentation=augmentation,
    )


def _train_val(n: int, n_val: int, seed: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified train/validation cut of ``n`` rows (no test rows)."""
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(np.arange(n), test_size=n_val, random_state=seed, stratify=y)
    return np.sort(train), np.sort(val)


def make_regression_task(name: str, description: str, x: np.ndarray, y: np.ndarray,
                         seed: int, sizes: tuple[int, int, int] | None = None,
                         references: tuple[Reference, ...] = (),
                         standardize_inputs: bool = True) -> RegressionTask:
    """A regression task over ``x`` (n, *input_shape) and targets ``y`` (n,) or (n, k).

    Inputs and targets are standardised with train statistics; the metric is RMSE in the
    target's original units (see :class:`RegressionTask`).
    """
    y = np.asarray(y, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    _, n_val, n_test = sizes or split_sizes(len(x))
    tr, va, te = split_indices(len(x), n_val, n_test, seed)
    if standardize_inputs:
        x_tr, x_va, x_te = standardize(x[tr], x[va], x[te])
    else:
        x_tr, x_va, x_te = (x[r].astype(np.float32) for r in (tr, va, te))
    mean, std = y[tr].mean(axis=0), y[tr].std(axis=0)
    std = np.where(std < 1e-12, 1.0, std)
    y_tr, y_va, y_te = (((y[r] - mean) / std).astype(np.float32) for r in (tr, va, te))
    return RegressionTask(
        name=name, description=description, kind="regression",
        input_shape=tuple(x.shape[1:]), n_outputs=int(y.shape[1]), metric="rmse",
        higher_is_better=False,
        train=Split(torch.from_numpy(x_tr), torch.from_numpy(y_tr)),
        val=Split(torch.from_numpy(x_va), torch.from_numpy(y_va)),
        test=Split(torch.from_numpy(x_te), torch.from_numpy(y_te)),
        seed=seed, references=references, target_std=tuple(float(s) for s in std),
    )
