"""Shared fixtures of the predictor tests: hand-built graphs and an exported model family."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from nas.search.perf.synthetic_networks import make_family
from predictors import load_graph

torch.set_num_threads(1)


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 17) -> onnx.ModelProto:
    """A checked ModelProto from helper-made parts."""
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def tensor(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def weight(name: str, shape, seed: int = 0) -> onnx.TensorProto:
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)


def branchy_model() -> onnx.ModelProto:
    """x -> Relu -> {Sigmoid, Tanh} -> Add -> Add(+x skip) -> MatMul -> Softmax."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Sigmoid", ["a"], ["b"]),
        helper.make_node("Tanh", ["a"], ["c"]),
        helper.make_node("Add", ["b", "c"], ["d"]),
        helper.make_node("Add", ["d", "x"], ["e"]),
        helper.make_node("MatMul", ["e", "W"], ["f"]),
        helper.make_node("Softmax", ["f"], ["y"], axis=-1),
    ]
    return make_model(nodes, [tensor("x", [1, 8])], [tensor("y", [1, 4])],
                      [weight("W", (8, 4))])


def residual_chain(blocks: int, width: int = 8) -> onnx.ModelProto:
    """``blocks`` identical residual blocks: h = h + Relu(MatMul(h, W_i))."""
    nodes, inits, h = [], [], "x"
    for i in range(blocks):
        nodes += [helper.make_node("MatMul", [h, f"W{i}"], [f"m{i}"]),
                  helper.make_node("Relu", [f"m{i}"], [f"r{i}"]),
                  helper.make_node("Add", [f"r{i}", h], [f"h{i}"])]
        inits.append(weight(f"W{i}", (width, width), seed=i))
        h = f"h{i}"
    nodes.append(helper.make_node("Identity", [h], ["y"]))
    return make_model(nodes, [tensor("x", [1, width])], [tensor("y", [1, width])], inits)


def real_edges(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """The graph's value edges named by the documented rule (inputs first, then node
    outputs in order; initializers and input-free Constant nodes are parameters)."""
    g = model.graph
    params = {t.name for t in g.initializer}
    names: dict[str, str] = {}
    for vi in g.input:
        if vi.name not in params:
            names[vi.name] = f"v{len(names)}"
    edges = []
    for n in g.node:
        if n.op_type in ("Constant", "ConstantOfShape") and all(i in params for i in n.input):
            params |= set(n.output)
            continue
        for o in n.output:
            names[o] = f"v{len(names)}"
        edges += [(names[i], names[o]) for i in n.input if i in names for o in n.output]
    return edges


@pytest.fixture(scope="session")
def family(tmp_path_factory):
    """80 exported MLPs/CNNs with known scores: (paths, scores)."""
    return make_family(tmp_path_factory.mktemp("family"), 80, seed=0)


@pytest.fixture(scope="session")
def family_views(family):
    paths, scores = family
    return [load_graph(p) for p in paths], scores


@pytest.fixture
def graphs():
    """The graph builders of this conftest, for tests to call."""

    class Graphs:
        branchy = staticmethod(branchy_model)
        chain = staticmethod(residual_chain)
        edges = staticmethod(real_edges)
        model = staticmethod(make_model)
        tensor = staticmethod(tensor)
        weight = staticmethod(weight)

    return Graphs
