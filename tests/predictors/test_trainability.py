"""TrainabilityClassifier: P(leaves chance) from the graph, ROC AUC, and its own file."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from nas.errors import PredictorError
from predictors import OnnxNetPredictor
from predictors.metrics import roc_auc
from predictors.trainability import TrainabilityClassifier


@pytest.fixture(scope="module")
def split(family_views):
    views, scores = family_views
    # the family's ground truth, thresholded: "leaves chance" = above the median score
    labels = scores > np.median(scores)
    return (views[:56], labels[:56]), (views[56:], labels[56:])


@pytest.fixture(scope="module")
def fitted(split):
    (views, labels), _ = split
    return TrainabilityClassifier(regressor_params={"max_iter": 60}).fit(views, labels)


def test_roc_auc_agrees_with_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(200) < 0.3
    scores = np.round(rng.random(200) + labels * 0.4, 1)  # rounding makes cross-class ties
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    assert roc_auc(labels.astype(float), labels) == 1.0
    assert np.isnan(roc_auc(scores, np.ones(200, bool)))


def test_it_ranks_held_out_networks_by_their_chance_to_train(fitted, split):
    _, (views, labels) = split
    proba = fitted.predict_proba(views)
    assert proba.shape == (len(views), 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert fitted.score(views, labels) > 0.8
    assert fitted.score(views, ~labels) < 0.2  # the labels, not a constant, decide it
    assert (fitted.predict(views) == (proba[:, 1] >= 0.5)).all()


def test_its_file_round_trips_and_is_not_a_predictor(fitted, split, tmp_path):
    _, (views, _) = split
    path = fitted.save(tmp_path / "t.classifier")
    loaded = TrainabilityClassifier.load(path)
    assert np.array_equal(loaded.predict_proba(views), fitted.predict_proba(views))
    with pytest.raises(PredictorError, match="onnxnet-trainability"):
        OnnxNetPredictor.load(path)
    predictor = OnnxNetPredictor(regressor="ridge").fit(views[:20], np.arange(20.0))
    with pytest.raises(PredictorError, match="onnxnet-predictor"):
        TrainabilityClassifier.load(predictor.save(tmp_path / "p.predictor"))


@pytest.mark.parametrize("labels, what", [
    (np.ones(20, bool), "one class only"), (np.zeros(20), "one class only"),
    (np.linspace(0, 1, 20), "must be booleans"),
])
def test_labels_that_teach_nothing_are_refused(family_views, labels, what):
    views, _ = family_views
    with pytest.raises(PredictorError, match=what):
        TrainabilityClassifier().fit(views[:20], labels)
