"""The size prior: mix a predictor's output with the network's size.

Across search spaces, "bigger trains better" is the one rule that transfers (params and
MACs are the strongest zero-shot baselines), while a model of the text can learn rules
that hold only in the grammars it saw. With ``OnnxNetPredictor(size_prior=True)`` the
prediction is

    y_mean + y_std * ((1 - w) * z(model output) + w * z(size))

with ``size = log(1 + params) + log(1 + MACs)`` (the log of their product: a network is
big by its weights and by its compute) and ``z`` standardizing with the training set's
statistics. The weight ``w`` (from :data:`WEIGHTS`) is chosen on the training set
only: by leave-one-group-out over the ``groups`` given to ``fit`` (e.g. each record's
grammar: how well does the mix rank a grammar the model has not seen?), or by
:data:`FOLDS` random folds without groups.
A fold's Kendall tau is taken within the fold, the weight with the best mean wins (ties:
the smaller weight).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from predictors.metrics import kendall_tau

#: weights of the size term that fitting chooses from
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: random folds used when fit is given no groups (or a single group)
FOLDS = 4


@dataclass(frozen=True)
class SizePrior:
    """A fitted mix: the weight and the training statistics it standardizes with."""

    weight: float
    model_mean: float
    model_std: float
    size_mean: float
    size_std: float
    y_mean: float
    y_std: float

    def apply(self, model_output: np.ndarray, size: np.ndarray) -> np.ndarray:
        """The mixed prediction, on the scale of the training scores."""
        z_model = (model_output - self.model_mean) / self.model_std
        z_size = (size - self.size_mean) / self.size_std
        mixed = (1.0 - self.weight) * z_model + self.weight * z_size
        return self.y_mean + self.y_std * mixed

    def to_config(self) -> dict:
        return dict(vars(self))


def choose_weight(fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  size: np.ndarray, y: np.ndarray, groups=None, seed: int = 0) -> float:
    """The weight of :data:`WEIGHTS` whose mix ranks held-out folds best.

    ``fit_predict(train_rows, test_rows)`` fits a fresh model on the training rows and
    returns its outputs for the test rows (and for nothing else).
    """
    folds = _folds(len(y), groups, seed)
    taus = {w: [] for w in WEIGHTS}
    for test in folds:
        train = np.setdiff1d(np.arange(len(y)), test)
        if len(test) < 2 or len(train) < 2:
            continue
        output = fit_predict(train, test)
        z_model = _standardize(output)
        z_size = _standardize(size[test])
        for w in WEIGHTS:
            taus[w].append(kendall_tau((1 - w) * z_model + w * z_size, y[test]))
    scored = {w: np.nanmean(t) for w, t in taus.items() if t and not np.all(np.isnan(t))}
    if not scored:
        return 0.0
    return max(WEIGHTS, key=lambda w: (scored.get(w, -np.inf), -w))


def fit_prior(weight: float, model_output: np.ndarray, size: np.ndarray,
              y: np.ndarray) -> SizePrior:
    """The :class:`SizePrior` of ``weight`` with the training set's statistics."""
    return SizePrior(weight, float(model_output.mean()), _std(model_output),
                     float(size.mean()), _std(size), float(y.mean()), _std(y))


def _folds(n: int, groups, seed: int) -> list[np.ndarray]:
    if groups is not None:
        groups = np.asarray(groups)
        names = np.unique(groups)
        if len(names) >= 2:
            return [np.flatnonzero(groups == g) for g in names]
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(f) for f in np.array_split(order, min(FOLDS, n))]


def _standardize(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / _std(a)


def _std(a: np.ndarray) -> float:
    s = float(np.std(a))
    return s if s > 0 else 1.0
