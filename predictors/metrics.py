"""Ranking and error metrics between predicted and true scores.

Kendall tau (tau-b, ties handled) and Spearman rho come from scipy; both are NaN when
either side is constant (no ranking to compare) or fewer than two scores are given.
"""

from __future__ import annotations

import warnings

import numpy as np

from nas.errors import PredictorError


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if len(a) != len(b):
        raise PredictorError(f"cannot compare {len(a)} predictions with {len(b)} scores")
    return a, b


def _ranked(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) >= 2 and np.ptp(a) > 0 and np.ptp(b) > 0


def kendall_tau(predicted, actual) -> float:
    """Kendall's tau-b between two score lists (1: same order, -1: reversed)."""
    # scipy.stats: a slow import that predicting does not need
    from scipy.stats import kendalltau

    return _rank_correlation(kendalltau, predicted, actual)


def spearman(predicted, actual) -> float:
    """Spearman's rank correlation between two score lists."""
    # scipy.stats: a slow import that predicting does not need
    from scipy.stats import spearmanr

    return _rank_correlation(spearmanr, predicted, actual)


def _rank_correlation(statistic, predicted, actual) -> float:
    """``statistic(a, b).statistic``; nan when either list has fewer than 2 distinct values."""
    a, b = _pair(predicted, actual)
    if not _ranked(a, b):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(statistic(a, b).statistic)


def mae(predicted, actual) -> float:
    """Mean absolute error."""
    a, b = _pair(predicted, actual)
    return float(np.mean(np.abs(a - b))) if len(a) else float("nan")


def roc_auc(predicted, labels) -> float:
    """Area under the ROC curve of ``predicted`` scores for boolean ``labels``: the chance
    that a random positive scores above a random negative (ties count one half, the
    Mann-Whitney U statistic over n_pos x n_neg). NaN when one class is absent."""
    # scipy.stats: a slow import that predicting does not need
    from scipy.stats import rankdata

    a, b = _pair(predicted, np.asarray(labels, dtype=bool))
    positive = b > 0
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(a)  # average ranks: a tie between classes counts one half
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
