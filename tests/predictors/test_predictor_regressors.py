"""Regressors: ridge against its closed form, gbm against scikit-learn, mlp ranking."""

from __future__ import annotations

import numpy as np
import pytest

from nas.errors import PredictorError
from predictors.metrics import kendall_tau
from predictors.regressors import (
    BlendRegressor,
    GbmRegressor,
    MlpRegressor,
    RidgeRegressor,
    make_regressor,
    regressor_from_state,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 0.0, 3.0]) + 0.1 * rng.normal(size=120)
    return X, y


def test_ridge_matches_the_normal_equations(data):
    X, y = data
    r = RidgeRegressor(alpha=2.0).fit(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    coef = np.linalg.solve(Xc.T @ Xc + 2.0 * np.eye(6), Xc.T @ yc)
    np.testing.assert_allclose(r.coef_, coef, rtol=1e-8)
    np.testing.assert_allclose(r.predict(X), X @ coef + y.mean() - X.mean(0) @ coef, rtol=1e-8)


def test_ridge_loo_prefers_small_alpha_on_clean_data(data):
    X, y = data
    assert RidgeRegressor().fit(X, y).alpha_ <= 1.0
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(30, 50))
    assert RidgeRegressor().fit(noise, rng.normal(size=30)).alpha_ >= 10.0


def test_gbm_numpy_inference_equals_sklearn(data):
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = data
    ours = GbmRegressor(max_iter=50).fit(X, y)
    theirs = HistGradientBoostingRegressor(
        max_iter=50, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=10,
        l2_regularization=1.0, early_stopping=False, random_state=0).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-10)


def test_mlp_with_ranking_loss_orders_the_data(data):
    X, y = data
    m = MlpRegressor(ranking=True, epochs=60).fit(X[:80], y[:80])
    assert kendall_tau(m.predict(X[80:]), y[80:]) > 0.7


def test_blend_is_the_mean_of_its_parts(data):
    X, y = data
    blend = BlendRegressor(parts=("ridge", "gbm", "mlp"),
                           part_params={"ridge": {"alpha": 2.0}, "gbm": {"max_iter": 40},
                                        "mlp": {"epochs": 5}}).fit(X, y)
    ridge = RidgeRegressor(alpha=2.0).fit(X, y)
    gbm = GbmRegressor(max_iter=40).fit(X, y)
    mlp = MlpRegressor(epochs=5).fit(X, y)
    np.testing.assert_allclose(blend.predict(X),
                               (ridge.predict(X) + gbm.predict(X) + mlp.predict(X)) / 3)
    assert regressor_from_state(*blend.state()).parts == ("ridge", "gbm", "mlp")


@pytest.mark.parametrize("parts", [(), ("blend",), ("ridge", "svm")])
def test_blend_rejects_unknown_or_nested_parts(parts, data):
    X, y = data
    with pytest.raises(PredictorError, match="blend parts must be some of ridge, gbm, mlp"):
        BlendRegressor(parts=parts).fit(X, y)


@pytest.mark.parametrize("name", ["ridge", "gbm", "mlp", "blend"])
def test_state_round_trip_predicts_identically(name, data):
    X, y = data
    quick = {"mlp": {"epochs": 5}, "blend": {"part_params": {"mlp": {"epochs": 5}}}}
    r = make_regressor(name, **quick.get(name, {})).fit(X, y)
    config, arrays = r.state()
    again = regressor_from_state(config, arrays)
    np.testing.assert_array_equal(again.predict(X), r.predict(X))


def test_bad_regressor_arguments_raise(data):
    with pytest.raises(PredictorError, match="unknown regressor"):
        make_regressor("xgboost")
    with pytest.raises(PredictorError, match="regressor='mlp'"):
        make_regressor("ridge", ranking=True)
    with pytest.raises(PredictorError, match="NaN"):
        RidgeRegressor().fit(data[0], np.full(len(data[0]), np.nan))
