"""Structural numeric features of a graph: size, compute, depth, wiring, op counts.

These are the optional ``graph`` feature block of the predictor. They are computed from
the same :class:`~predictors.graph.GraphView` as the text, so any ONNX file has them.
MACs follow the usual analytic counts (a multiply-accumulate per weight use):

* Conv: ``numel(output) * prod(W.shape[1:])``; ConvTranspose: ``numel(input) * prod(W.shape[1:])``
* Gemm / MatMul: ``numel(output) * K`` (the contracted size)
* LSTM / GRU / RNN: ``gates * seq * batch * hidden * (input + hidden) * directions``

Unknown shapes contribute 0; symbolic dimensions count as 1 (a batch of one).
"""

from __future__ import annotations

import math
from collections import Counter

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
) + tuple(f"op_{op}" for op in COUNTED_OPS) + ("op_other",)

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_MAC_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", *_GATES})


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
    return np.concatenate([np.asarray(head, dtype=np.float64), np.log1p(op_counts)])


def macs(view: GraphView) -> int:
    """Multiply-accumulates of one forward pass, from the graph's shapes."""
    return sum(_node_macs(n) for n in _all_nodes(view))


def depth(view: GraphView) -> int:
    """Longest chain of ops from an input to an output (top-level graph)."""
    level: dict[str, int] = {}
    get = level.get
    best = 0
    for n in view.nodes:
        d = 0
        for a in n.inputs:
            if a.kind == "value":
                d = max(d, get(a.text, 0))
        d += 1
        for o in n.outputs:
            level[o] = d
        if d > best:
            best = d
    return best


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
