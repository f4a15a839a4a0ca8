"""The predictor recovers a known score function of the architecture from ONNX alone."""

from __future__ import annotations

import numpy as np
import pytest

from predictors import OnnxNetPredictor


def _split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[: n * 2 // 3], order[n * 2 // 3:]


@pytest.mark.parametrize("params, floor", [
    ({"encoder": "hashing", "regressor": "ridge"}, 0.8),
    ({"encoder": "hashing", "regressor": "ridge", "features": "text"}, 0.6),
    ({"encoder": "hashing", "regressor": "mlp", "ranking": True}, 0.7),
    ({"encoder": "hashing", "regressor": "gbm", "features": "graph"}, 0.6),
])
def test_held_out_kendall_tau_on_the_synthetic_family(family_views, params, floor):
    views, scores = family_views
    train, test = _split(len(views))
    p = OnnxNetPredictor(**params).fit([views[i] for i in train], scores[train])
    tau = p.score([views[i] for i in test], scores[test])
    assert tau >= floor, f"{params}: tau {tau:.3f}"


def test_results_hold_across_seeds(family_views):
    views, scores = family_views
    taus = []
    for seed in range(3):
        train, test = _split(len(views), seed)
        p = OnnxNetPredictor(random_state=seed).fit([views[i] for i in train], scores[train])
        taus.append(p.score([views[i] for i in test], scores[test]))
    assert min(taus) >= 0.75, taus
