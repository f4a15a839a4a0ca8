"""Kendall tau, Spearman and MAE against hand-computed values."""

from __future__ import annotations

import math

import pytest

from nas.errors import PredictorError
from predictors import kendall_tau, mae, spearman


def test_kendall_tau_of_known_orders():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # 5 concordant, 1 discordant pair out of 6: (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)


def test_spearman_of_known_ranks():
    # d = (0, 1, -1, 0): rho = 1 - 6 * 2 / (4 * 15)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(1 - 12 / 60)


def test_mae_and_degenerate_inputs():
    assert mae([1.0, 2.0], [2.0, 4.0]) == pytest.approx(1.5)
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1], [2]))
    with pytest.raises(PredictorError, match="cannot compare"):
        kendall_tau([1, 2], [1, 2, 3])
