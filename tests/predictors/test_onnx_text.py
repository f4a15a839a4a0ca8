"""ONNX -> text: determinism, faithfulness (edges), attributes, summaries, errors."""

from __future__ import annotations

import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from nas.errors import PredictorError
from predictors import load_graph, onnx_to_text, parse_edges
from predictors.text import MIN_MAX_CHARS


def test_same_model_gives_same_text_across_inputs(graphs, tmp_path):
    model = graphs.branchy()
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    texts = {onnx_to_text(model), onnx_to_text(path), onnx_to_text(str(path)),
             onnx_to_text(load_graph(path))}
    assert len(texts) == 1


def test_node_names_do_not_change_the_text(graphs):
    a = graphs.branchy()
    b = graphs.branchy()
    for i, n in enumerate(b.graph.node):
        n.name = f"renamed_{i}"
    assert onnx_to_text(a) == onnx_to_text(b)


def test_edges_with_skip_and_branch_are_recovered(graphs):
    model = graphs.branchy()
    text = onnx_to_text(model)
    edges = parse_edges(text)
    assert edges == graphs.edges(model)
    # the branch (a feeds Sigmoid and Tanh) and the skip (x feeds the last Add)
    assert ("v1", "v2") in edges and ("v1", "v3") in edges and ("v0", "v5") in edges


def test_text_lists_shapes_params_and_scalar_attributes(graphs):
    text = onnx_to_text(graphs.branchy())
    lines = text.splitlines()
    assert lines[0] == "input v0 1x8"
    assert "v6 = MatMul(v5, Param[8,4]) -> 1x4" in lines
    assert "v7 = Softmax(v6) axis=-1 -> 1x4" in lines
    assert lines[-1] == "output v7 1x4"


def test_every_attribute_is_written_with_schema_defaults(graphs):
    conv = helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    explicit = helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3],
                                pads=[1, 1, 1, 1], group=1, auto_pad="NOTSET")
    texts = []
    for node in (conv, explicit):
        model = graphs.model([node], [graphs.tensor("x", [1, 3, 8, 8])],
                             [graphs.tensor("y", [1, 4, 8, 8])], [graphs.weight("W", (4, 3, 3, 3))])
        texts.append(onnx_to_text(model))
    assert texts[0] == texts[1]
    assert "group=1" in texts[0] and "kernel_shape=3 " in texts[0] and "pads=1 " in texts[0]
    gemm = helper.make_node("Gemm", ["x", "W"], ["y"], transB=1, alpha=0.5)
    lrelu = helper.make_node("LeakyRelu", ["y"], ["z"], alpha=0.2)
    bn_in = [graphs.tensor("x", [2, 3])]
    model = graphs.model([gemm, lrelu], bn_in, [graphs.tensor("z", [2, 4])],
                         [graphs.weight("W", (4, 3))])
    text = onnx_to_text(model)
    assert "alpha=0.5 beta=1 transA=0 transB=1" in text
    assert "LeakyRelu(v1) alpha=0.2" in text


def test_unequal_lists_stay_and_small_int_params_show_values(graphs):
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [2, -1])
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"]),
             helper.make_node("Reshape", ["p", "shape"], ["y"])]
    pads = helper.make_tensor("pads", TensorProto.INT64, [4], [0, 1, 0, 2])
    model = graphs.model(nodes, [graphs.tensor("x", [2, 3])], [graphs.tensor("y", [2, 6])],
                         [pads, shape])
    text = onnx_to_text(model)
    assert "Pad(v0, Param[4]=0,1,0,2, _)" in text or "Pad(v0, Param[4]=0,1,0,2)" in text
    assert "Reshape(v1, Param[2]=2,-1)" in text


def test_constant_nodes_are_folded_into_params(graphs):
    const = helper.make_node("Constant", [], ["shape"],
                             value=helper.make_tensor("t", TensorProto.INT64, [2], [1, -1]))
    reshape = helper.make_node("Reshape", ["x", "shape"], ["y"])
    model = graphs.model([const, reshape], [graphs.tensor("x", [2, 3])],
                         [graphs.tensor("y", [1, 6])])
    text = onnx_to_text(model)
    assert "v1 = Reshape(v0, Param[2]=1,-1)" in text
    assert "Constant" not in text
    assert parse_edges(text) == graphs.edges(model)


def test_repeated_blocks_collapse_and_edges_survive(graphs):
    model = graphs.chain(12)
    full = onnx_to_text(model, max_chars=100_000)
    assert "repeat" not in full
    short = onnx_to_text(model, max_chars=len(full) - 1)
    assert "repeat x12 (v1..v36) {" in short and "omitted" not in short
    assert parse_edges(short) == parse_edges(full) == graphs.edges(model)


def test_long_graphs_keep_head_tail_and_an_op_histogram(graphs):
    text = onnx_to_text(graphs.branchy(), max_chars=MIN_MAX_CHARS)
    assert len(text) <= MIN_MAX_CHARS
    assert "ops omitted" in text


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=MIN_MAX_CHARS, max_value=3000))
def test_length_bound_always_holds(max_chars):
    import os

    path = os.path.join(os.path.dirname(onnx.__file__),
                        "backend/test/data/light/light_inception_v1.onnx")
    assert len(onnx_to_text(path, max_chars=max_chars)) <= max_chars


def test_subgraphs_are_indented_and_share_numbering(graphs):
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                             [graphs.tensor("t", [2])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                              [graphs.tensor("e", [2])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    model = graphs.model([node], [graphs.tensor("x", [2]), cond], [graphs.tensor("y", [2])])
    text = onnx_to_text(model)
    assert "  else_branch {" in text and "  then_branch {" in text
    assert "    v3 = Neg(v0) -> 2" in text and "    v4 = Relu(v0) -> 2" in text
    assert ("v0", "v4") in parse_edges(text)


def test_unreadable_models_raise_predictor_error(tmp_path, graphs):
    garbage = tmp_path / "bad.onnx"
    garbage.write_bytes(b"\x00not an onnx file at all\xff" * 10)
    with pytest.raises(PredictorError, match="cannot read"):
        onnx_to_text(garbage)
    with pytest.raises(PredictorError, match="does not exist"):
        onnx_to_text(tmp_path / "missing.onnx")
    with pytest.raises(PredictorError, match="no graph"):
        onnx_to_text(onnx.ModelProto())
    with pytest.raises(PredictorError, match="expected an ONNX file path"):
        onnx_to_text(42)
    with pytest.raises(PredictorError, match="max_chars"):
        onnx_to_text(graphs.branchy(), max_chars=10)


def test_undefined_values_and_cycles_raise_predictor_error(graphs):
    bad = graphs.branchy()
    bad.graph.node[1].input[0] = "nowhere"
    with pytest.raises(PredictorError, match="nowhere"):
        onnx_to_text(bad)
    cyc = graphs.branchy()
    cyc.graph.node[0].input[0] = "y"  # Relu now depends on the last node's output
    with pytest.raises(PredictorError, match="cycle"):
        onnx_to_text(cyc)


def test_nodes_out_of_order_are_sorted(graphs):
    model = graphs.branchy()
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(reversed(nodes))
    text = onnx_to_text(model)
    # every value is used after it is defined, shapes were inferred, same ops and wiring
    assert all(int(src[1:]) < int(dst[1:]) for src, dst in parse_edges(text))
    assert "?" not in text
    reference = onnx_to_text(graphs.branchy())

    def ops(t: str) -> list[str]:
        lines = [line for line in t.splitlines() if " = " in line]
        return sorted(line.split(" = ")[1].split("(")[0] for line in lines)

    assert ops(text) == ops(reference)
    assert len(parse_edges(text)) == len(parse_edges(reference))
