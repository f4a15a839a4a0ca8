"""The GNN predictor (predictors.gnn): it learns a known ranking, round-trips its file,
and refuses what it cannot read."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from nas.errors import PredictorError
from predictors.evaluate import make_predictor
from predictors.gnn import GraphNetPredictor, to_graph
from predictors.metrics import kendall_tau


@pytest.fixture(scope="module")
def fitted(family_views, tmp_path_factory):
    views, scores = family_views
    p = GraphNetPredictor(epochs=60, n_models=2).fit(views[:60], scores[:60])
    path = p.save(tmp_path_factory.mktemp("gnn") / "g.predictor")
    return p, path, views[60:], np.asarray(scores[60:])


def test_it_ranks_unseen_networks_of_a_known_family(fitted):
    # wider is better, deeper is worse, residual and GELU help (synthetic_networks)
    p, _, test_views, truth = fitted
    assert kendall_tau(truth, p.predict(test_views)) > 0.6


def test_a_graph_has_one_node_per_op_and_input_and_its_edges(family_views):
    view = family_views[0][0]
    g = to_graph(view)
    assert len(g.ops) == len(view.inputs) + len(view.nodes)
    # every op but the first reads a value some earlier node made
    assert g.edges.shape[1] >= len(view.nodes) and bool((g.edges[0] < g.edges[1]).all())


def test_the_file_round_trips_and_a_modified_one_is_refused(fitted, tmp_path):
    p, path, test_views, _ = fitted
    again = GraphNetPredictor.load(path)
    np.testing.assert_allclose(again.predict(test_views), p.predict(test_views), rtol=1e-6)
    tampered = tmp_path / "t.predictor"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data.replace(b'"epochs": 60', b'"epochs": 61'))
    with pytest.raises(PredictorError):
        GraphNetPredictor.load(tampered)


def test_an_onnxnet_file_is_not_read_as_a_gnn(tmp_path, family_views):
    views, scores = family_views
    other = make_predictor({}).fit(views[:30], scores[:30]).save(tmp_path / "o.predictor")
    with pytest.raises(PredictorError, match="not a predictor file"):
        GraphNetPredictor.load(other)


def test_an_unfitted_gnn_says_so():
    with pytest.raises(PredictorError, match="not fitted"):
        GraphNetPredictor().predict([])
