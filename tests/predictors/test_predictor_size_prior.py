"""The size prior: its weight is chosen on the training set, and it survives save/load."""

from __future__ import annotations

import numpy as np
import pytest

from nas.errors import PredictorError
from predictors import OnnxNetPredictor
from predictors.size_prior import SizePrior, choose_weight, fit_prior


def _fit_predict(output: np.ndarray):
    """A 'model' whose held-out outputs are fixed numbers (what fitting would return)."""
    return lambda train, test: output[test]


def test_the_weight_follows_whichever_signal_ranks_held_out_groups():
    rng = np.random.default_rng(0)
    log_params = rng.uniform(5, 15, size=90)
    groups = np.repeat(["a", "b", "c"], 30)
    noise = rng.normal(size=90)
    # scores follow size: the model's noise should get no weight
    assert choose_weight(_fit_predict(noise), log_params, log_params, groups) == 1.0
    # scores follow the model, size is noise: no size term
    assert choose_weight(_fit_predict(noise), log_params, noise, groups) == 0.0
    # without groups, random folds decide the same way
    assert choose_weight(_fit_predict(noise), log_params, log_params) == 1.0


def test_the_mix_is_on_the_training_scores_scale():
    y = np.array([0.1, 0.5, 0.9])
    prior = fit_prior(0.0, np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]), y)
    np.testing.assert_allclose(prior.apply(np.array([1.0, 2.0, 3.0]), np.zeros(3)), y)
    assert SizePrior(**prior.to_config()) == prior


def test_a_predictor_with_the_size_prior_round_trips(tmp_path, family):
    paths, scores = family
    p = OnnxNetPredictor(regressor="ridge", size_prior=True).fit(
        paths, scores, groups=["x", "y"] * (len(paths) // 2) + ["x"] * (len(paths) % 2))
    assert p.size_prior_.weight in (0.0, 0.25, 0.5, 0.75, 1.0)
    again = OnnxNetPredictor.load(p.save(tmp_path / "p.predictor"))
    np.testing.assert_array_equal(again.predict(paths), p.predict(paths))
    assert again.size_prior_ == p.size_prior_
    with pytest.raises(PredictorError, match="groups"):
        OnnxNetPredictor(size_prior=True).fit(paths, scores, groups=["x"])


def test_the_size_counts_compute_as_well_as_weights(graphs):
    from onnx import helper

    from predictors import load_graph
    from predictors.predictor import _log_size

    def conv(side: int):
        node = helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3],
                                pads=[1, 1, 1, 1])
        return load_graph(graphs.model(
            [node], [graphs.tensor("x", [1, 2, side, side])],
            [graphs.tensor("y", [1, 4, side, side])], [graphs.weight("W", (4, 2, 3, 3))]))

    small, large = _log_size([conv(8), conv(16)])  # same 72 weights, 4x the MACs
    assert small == pytest.approx(np.log1p(72) + np.log1p(4 * 8 * 8 * 18))
    assert large - small == pytest.approx(np.log1p(4 * 16 * 16 * 18) - np.log1p(4 * 8 * 8 * 18))
