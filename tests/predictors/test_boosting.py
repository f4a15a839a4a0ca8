"""predictors.boosting against scikit-learn's HistGradientBoostingRegressor (the
independent reference): the same data and knobs give the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from nas.errors import PredictorError
from predictors.boosting import MAX_BINS, BoostingParams, bin_thresholds, fit_trees, predict_trees
from predictors.regressors import GbmRegressor


def reference(X, y, params: BoostingParams) -> HistGradientBoostingRegressor:
    model = HistGradientBoostingRegressor(
        max_iter=params.max_iter, learning_rate=params.learning_rate,
        max_leaf_nodes=params.max_leaf_nodes, min_samples_leaf=params.min_samples_leaf,
        l2_regularization=params.l2_regularization, early_stopping=False)
    with threadpool_limits(1):  # one thread: its sums in the order of ours
        return model.fit(X, y)


def counts_and_numbers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed-token-like counts, a constant column and standardized numbers."""
    rng = np.random.default_rng(seed)
    X = rng.poisson(0.8, size=(n, 40)).astype(float)
    X[:, 5] = 3.0
    X[:, :4] = rng.normal(size=(n, 4))
    y = X[:, 0] ** 2 + np.sin(3 * X[:, 1]) + 0.2 * X[:, 9] + rng.normal(scale=0.1, size=n)
    return X, y


@pytest.mark.parametrize("n, params", [
    (300, BoostingParams(max_iter=40)),
    (300, BoostingParams(max_iter=25, max_leaf_nodes=31, min_samples_leaf=3,
                         learning_rate=0.3, l2_regularization=0.0)),
    (700, BoostingParams(max_iter=20)),  # > 255 distinct values: quantile bins
    (24, BoostingParams(max_iter=30, min_samples_leaf=6)),
])
def test_the_same_predictions_as_scikit_learn(n, params):
    X, y = counts_and_numbers(n, seed=n)
    new, _ = counts_and_numbers(200, seed=n + 1)
    baseline, trees = fit_trees(X, y, params)
    model = reference(X, y, params)
    for data in (X, new):
        np.testing.assert_allclose(predict_trees(trees, baseline, data), model.predict(data),
                                   rtol=0, atol=1e-12)


def test_on_the_predictor_graph_features_of_real_models(family_views):
    from predictors.features import graph_features

    views, scores = family_views
    X = np.stack([graph_features(v) for v in views])
    params = BoostingParams(max_iter=50, min_samples_leaf=5)
    baseline, trees = fit_trees(X, np.asarray(scores, dtype=float), params)
    np.testing.assert_allclose(predict_trees(trees, baseline, X),
                               reference(X, scores, params).predict(X), rtol=0, atol=1e-12)


def test_bins():
    assert bin_thresholds(np.array([3.0, 1.0, 2.0, 1.0])).tolist() == [1.5, 2.5]
    assert len(bin_thresholds(np.ones(5))) == 0
    many = bin_thresholds(np.arange(1000.0))
    assert len(many) == MAX_BINS - 1 and np.all(np.diff(many) > 0)


def test_the_regressor_refuses_missing_values():
    X, y = counts_and_numbers(50, seed=0)
    X[3, 2] = np.nan
    with pytest.raises(PredictorError, match="NaN"):
        GbmRegressor(max_iter=2).fit(X, y)
