"""Structural numeric features of a graph: size, compute, depth, wiring, op counts, and
the profile of its weight layers (widths, sizes, depth in weight layers).

These are the optional ``graph`` feature block of the predictor. They are computed from
the same :class:`~predictors.graph.GraphView` as the text, so any ONNX file has them.
The layer profile matters most: on the predictor store it lifts the graph-only GBM's
median in-space Kendall tau from 0.61 to 0.69 (docs/predictor.md), because how wide the
hidden layers are, not only how many parameters there are in total, decides how well a
network of a family trains.
MACs follow the usual analytic counts (a multiply-accumulate per weight use):

* Conv: ``numel(output) * prod(W.shape[1:])``; ConvTranspose: ``numel(input) * prod(W.shape[1:])``
* Gemm / MatMul: ``numel(output) * K`` (the contracted size)
* LSTM / GRU / RNN: ``gates * seq * batch * hidden * (input + hidden) * directions``

Unknown shapes contribute 0; symbolic dimensions count as 1 (a batch of one). These are
features, kept as the shipped predictor was trained: ``log_params`` is
:attr:`GraphView.params` (every float tensor stored, buffers and constants included) and
``log_macs`` sees only shapes that plain shape inference resolves. The store's figures
(one definition) are :func:`nas.onnx_cost.count_params` / :func:`~nas.onnx_cost.count_macs`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import numpy as np

from predictors.graph import GraphView, OpNode, Shape

#: ops counted individually (everything else goes to ``op_other``)
COUNTED_OPS = (
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "Add", "Sub", "Mul", "Div", "Pow",
    "Sqrt", "Concat", "Split", "Slice", "Gather", "Reshape", "Transpose", "Flatten",
    "Relu", "LeakyRelu", "Elu", "Selu", "Gelu", "Erf", "Sigmoid", "Tanh", "Softmax",
    "BatchNormalization", "LayerNormalization", "InstanceNormalization",
    "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "ReduceSum",
    "LSTM", "GRU", "RNN", "Dropout", "Pad", "Resize",
)
#: names of the columns :func:`graph_features` returns, in order
FEATURE_NAMES = (
    "log_params", "log_macs", "log_ops", "depth", "log_edges", "skip_edges",
    "branch_values", "max_fanout", "log_inputs_numel", "log_outputs_numel",
) + tuple(f"op_{op}" for op in COUNTED_OPS) + ("op_other",) + (
    # the weight-layer profile (see :func:`layer_profile`)
    "weight_layers", "weight_depth", "log2_width_min", "log2_width_max", "log2_width_mean",
    "log2_width_median", "log2_width_first", "log2_width_last", "log2_width_std",
    "widening_steps", "log_largest_layer", "largest_layer_share", "log_median_layer",
    "residual_adds",
)

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_MAC_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", *_GATES})
#: ops that hold a layer's weights (when one of their inputs is a float parameter)
_WEIGHT_OPS = _MAC_OPS | {"Einsum"}


_OPS_INDEX = {op: i for i, op in enumerate(COUNTED_OPS)}


def graph_features(view: GraphView) -> np.ndarray:
    """A float64 vector with one entry per :data:`FEATURE_NAMES` (log1p of counts)."""
    counts: Counter = Counter()
    total_macs = n_nodes = 0
    for n in _all_nodes(view):
        counts[n.op] += 1
        n_nodes += 1
        if n.op in _MAC_OPS:
            total_macs += _node_macs(n)
    edges, skips, fanout = _wiring(view)
    op_counts = np.zeros(len(COUNTED_OPS) + 1)
    other = len(COUNTED_OPS)
    for op, k in counts.items():
        op_counts[_OPS_INDEX.get(op, other)] += k
    head = [
        math.log1p(view.params), math.log1p(total_macs), math.log1p(n_nodes),
        float(depth(view)), math.log1p(edges), math.log1p(skips),
        math.log1p(sum(1 for k in fanout.values() if k > 1)),
        float(max(fanout.values(), default=0)),
        math.log1p(sum(_numel(_type_shape(t)) for _, t in view.inputs)),
        math.log1p(sum(_numel(_type_shape(t)) for _, t in view.outputs)),
    ]
    return np.concatenate([np.asarray(head, dtype=np.float64), np.log1p(op_counts),
                           layer_profile(view)])


def layer_profile(view: GraphView) -> np.ndarray:
    """The weight layers' profile, 14 numbers (the last names of :data:`FEATURE_NAMES`).

    A weight layer is a Conv / Gemm / MatMul / Einsum / recurrent op with a float
    parameter input; its width is its output's channel (Conv) or last dimension. The
    widths are those of the hidden layers: every weight layer but the last in
    topological order, which is the task head in the platform's models (all of them when
    there is only one). ``weight_depth`` is the longest chain counted in weight layers;
    ``residual_adds`` counts Adds of two computed values (skip connections). A graph
    without weight layers gets zeros.
    """
    nodes = _all_nodes(view)
    layers = [(n, k) for n in nodes if (k := _layer_params(n)) > 0]
    sizes = np.array([k for _, k in layers], dtype=np.float64)
    widths = [w for w in (_layer_width(n) for n, _ in layers[:-1] or layers) if w > 0]
    residual = sum(1 for n in nodes
                   if n.op == "Add" and sum(a.kind == "value" for a in n.inputs) == 2)
    if not layers:
        return np.zeros(14)
    log_w = np.log2(np.asarray(widths or [1], dtype=np.float64))
    return np.array([
        float(len(layers)), float(_longest_chain(view, _is_layer)), log_w.min(), log_w.max(),
        log_w.mean(), float(np.median(log_w)), log_w[0], log_w[-1], log_w.std(),
        float(np.sum(log_w[1:] > log_w[:-1])), math.log1p(sizes.max()),
        sizes.max() / sizes.sum(), math.log1p(float(np.median(sizes))), float(residual),
    ])


def macs(view: GraphView) -> int:
    """Multiply-accumulates of one forward pass, from the graph's shapes."""
    return sum(_node_macs(n) for n in _all_nodes(view))


def depth(view: GraphView) -> int:
    """Longest chain of ops from an input to an output (top-level graph)."""
    return _longest_chain(view, lambda n: 1)


def _longest_chain(view: GraphView, counts: Callable[[OpNode], int]) -> int:
    """Longest input-to-output chain of the top-level graph, each node counting
    ``counts(node)`` (1: every op; 0 or 1: only some ops)."""
    level: dict[str, int] = {}
    get = level.get
    best = 0
    for n in view.nodes:
        d = 0
        for a in n.inputs:
            if a.kind == "value":
                d = max(d, get(a.text, 0))
        d += counts(n)
        for o in n.outputs:
            level[o] = d
        if d > best:
            best = d
    return best


def _is_layer(n: OpNode) -> int:
    return int(_layer_params(n) > 0)


def _layer_params(n: OpNode) -> int:
    """Float parameter elements of a weight op (0 for any other op)."""
    if n.op not in _WEIGHT_OPS:
        return 0
    return sum(a.numel for a in n.inputs if a.kind == "param" and a.is_float and a.numel > 1)


def _layer_width(n: OpNode) -> int:
    shape = n.out_shapes[0] if n.out_shapes else None
    if not shape:
        return 0
    width = shape[1] if n.op in ("Conv", "ConvTranspose") and len(shape) > 1 else shape[-1]
    return width if isinstance(width, int) and width > 0 else 0


def _all_nodes(view: GraphView, out: list | None = None) -> list[OpNode]:
    """Every node, sub-graphs' included (each right after the node that owns it)."""
    out = [] if out is None else out
    for n in view.nodes:
        out.append(n)
        for _, sub in n.subgraphs:
            _all_nodes(sub, out)
    return out


def _wiring(view: GraphView) -> tuple[int, int, Counter]:
    """(edges, edges that skip past the previous op, consumers per value)."""
    previous: set[str] = set()
    edges = skips = 0
    fanout: Counter = Counter()
    for n in view.nodes:
        for a in n.inputs:
            if a.kind != "value":
                continue
            edges += 1
            fanout[a.text] += 1
            skips += a.text not in previous
        previous = set(n.outputs)
    return edges, skips, fanout


def _node_macs(n: OpNode) -> int:
    if n.op not in _MAC_OPS:
        return 0
    out = n.out_shapes[0] if n.out_shapes else None
    ins = [a.shape for a in n.inputs]
    if n.op in ("Conv", "ConvTranspose") and len(ins) > 1 and ins[1]:
        base = out if n.op == "Conv" else ins[0]
        return _numel(base) * _numel(ins[1][1:])
    if n.op in ("Gemm", "MatMul") and len(ins) > 1 and ins[0]:
        transposed = n.op == "Gemm" and n.numbers.get("transA", 0)
        k = ins[0][0] if transposed else ins[0][-1]
        return _numel(out) * (k if isinstance(k, int) and k > 0 else 0)
    if n.op in _GATES and len(ins) > 2 and ins[0] and ins[2] and len(ins[0]) == 3:
        seq, batch, features = (d if isinstance(d, int) and d > 0 else 1 for d in ins[0])
        directions, hidden = ins[2][0] or 1, ins[2][-1] or 0
        return _GATES[n.op] * seq * batch * hidden * (features + hidden) * directions
    return 0


def _numel(shape: Shape) -> int:
    if shape is None:
        return 0
    return math.prod(d if isinstance(d, int) and d > 0 else 1 for d in shape)


def _type_shape(type_text: str) -> Shape:
    """The shape of a float-tensor type text (``1x3x32x32``); None for other types."""
    if not type_text or not type_text[0].isdigit():
        return () if type_text == "scalar" else None
    return tuple(int(d) if d.isdigit() else None for d in type_text.split("x"))
