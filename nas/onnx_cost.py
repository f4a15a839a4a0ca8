"""Cost figures read from an ONNX graph: parameters, MACs, onnxruntime latency.

What :func:`count_macs` counts, per sample (batch axis fixed to 1), in the main graph:

* ``MatMul``: ``prod(output shape) * K`` (K = last axis of the first input);
* ``Gemm``: ``M * N * K``;
* ``Conv``: ``prod(output shape) * prod(weight.shape[1:])`` (channels per group x kernel);
* ``ConvTranspose``: ``prod(input shape) * prod(weight.shape[1:])``;
* ``LSTM`` / ``GRU`` / ``RNN``: ``steps * batch * directions * gates * H * (I + H)``
  with 4 / 3 / 1 gates;
* ``Einsum``: product of the sizes of all distinct indices (one MAC per term).

Elementwise ops, normalisations, activations, softmax, pooling and data movement are not
counted (the fvcore/thop convention), nor are subgraphs of If/Loop or local functions.
Shapes come from ONNX shape inference with data propagation; where it cannot resolve a
shape, one onnxruntime run on a zero input of batch 1 supplies the real shapes.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

__all__ = ["count_macs", "count_params", "measure_latency"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_COUNTED = {"MatMul", "Gemm", "Conv", "ConvTranspose", "Einsum", *_GATES}


def count_params(model: onnx.ModelProto) -> int:
    """Trainable parameters: elements of the main graph's floating-point initializers.

    Not counted: integer initializers (shapes, indices), tensors held in ``Constant``
    nodes (the platform's exporter writes torch buffers there: BatchNorm statistics,
    im2col's fixed kernel), and initializers read only as a ``BatchNormalization``'s
    running mean or variance (statistics, not weights, in files from any exporter).
    For a model exported by :func:`nas.export.export_onnx` this is exactly
    ``sum(p.numel() for p in module.parameters())``, head included.
    """
    statistics = _norm_statistics(model.graph)
    return sum(math.prod(t.dims) for t in model.graph.initializer
               if t.data_type in _FLOATS and t.name not in statistics)


_FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
           onnx.TensorProto.BFLOAT16}


def _norm_statistics(graph: onnx.GraphProto) -> set[str]:
    """Values used only as BatchNormalization's running mean / variance (inputs 3 and 4)."""
    stats, other = set(), set()
    for node in graph.node:
        for i, name in enumerate(node.input):
            is_stat = node.op_type == "BatchNormalization" and i in (3, 4)
            (stats if is_stat else other).add(name)
    return stats - other


def count_macs(model: onnx.ModelProto) -> int:
    """Multiply-accumulates for one sample (batch 1); see the module docstring for what counts."""
    nodes = [n for n in model.graph.node if n.op_type in _COUNTED]
    if not nodes:
        return 0
    shapes = _shapes(model, {name for n in nodes for name in [*n.input, *n.output] if name})
    return int(sum(_node_macs(n, shapes) for n in nodes))


def _node_macs(node: onnx.NodeProto, shapes: dict[str, tuple[int, ...] | None]) -> int:
    def shape(i: int, out: bool = False):
        names = node.output if out else node.input
        return shapes.get(names[i]) if i < len(names) and names[i] else None

    op = node.op_type
    if op == "MatMul":
        a, y = shape(0), shape(0, out=True)
        return math.prod(y) * a[-1] if a and y is not None else 0
    if op == "Gemm":
        a, y = shape(0), shape(0, out=True)
        trans_a = next((at.i for at in node.attribute if at.name == "transA"), 0)
        return math.prod(y) * (a[0] if trans_a else a[1]) if a and y is not None else 0
    if op == "Conv":
        w, y = shape(1), shape(0, out=True)
        return math.prod(y) * math.prod(w[1:]) if w and y is not None else 0
    if op == "ConvTranspose":
        x, w = shape(0), shape(1)
        return math.prod(x) * math.prod(w[1:]) if x and w else 0
    if op == "Einsum":
        return _einsum_macs(node, [shape(i) for i in range(len(node.input))])
    return _recurrent_macs(node, shape(0), shape(1), shape(2))


def _recurrent_macs(node, x, w, r) -> int:
    """steps * batch * directions * gates*H * (I + H), from X (S,B,I) or (B,S,I), W, R."""
    if not (x and w and r):
        return 0
    layout = next((at.i for at in node.attribute if at.name == "layout"), 0)
    steps, batch = (x[1], x[0]) if layout else (x[0], x[1])
    directions, gates_h, inputs = w
    hidden = r[2]
    return steps * batch * directions * gates_h * (inputs + hidden)


def _einsum_macs(node, operand_shapes) -> int:
    equation = next((at.s.decode() for at in node.attribute if at.name == "equation"), "")
    terms = equation.replace(" ", "").split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, operand_shapes, strict=False):
        if shape is None or "." in term or len(term) != len(shape):
            return 0
        sizes.update(zip(term, shape, strict=True))
    return math.prod(sizes.values()) if len(terms) > 1 else 0


def _shapes(model: onnx.ModelProto, wanted: set[str]) -> dict[str, tuple[int, ...] | None]:
    """Concrete shapes (batch 1) of ``wanted`` values: inference first, onnxruntime if needed."""
    fixed = _with_batch_one(model)
    shapes = {t.name: tuple(t.dims) for t in fixed.graph.initializer}
    try:
        inferred = onnx.shape_inference.infer_shapes(fixed, data_prop=True)
    except Exception:  # a graph inference cannot handle still runs in onnxruntime
        inferred = fixed
    g = inferred.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        shapes.setdefault(vi.name, _static_dims(vi))
    missing = [n for n in wanted if shapes.get(n) is None]
    if missing:
        shapes.update(_runtime_shapes(fixed, missing))
    return shapes


def _with_batch_one(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose graph inputs have every symbolic dimension set to 1, value_info cleared."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    del fixed.graph.value_info[:]
    for vi in fixed.graph.input:
        for dim in vi.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1
    return fixed


def _static_dims(vi: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return None if None in dims else tuple(dims)


def _runtime_shapes(model: onnx.ModelProto, names: list[str]) -> dict[str, tuple[int, ...]]:
    """Expose ``names`` as graph outputs and run once on zeros to read their shapes."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {o.name for o in probe.graph.output}
    probe.graph.output.extend([onnx.ValueInfoProto(name=n) for n in names if n not in present])
    try:
        session = ort.InferenceSession(probe.SerializeToString(), _options(1),
                                       providers=["CPUExecutionProvider"])
        outputs = session.run(names, _zero_feed(probe))
    except Exception:  # shapes stay unknown; those nodes count 0
        return {}
    return {n: tuple(v.shape) for n, v in zip(names, outputs, strict=True)}


def _zero_feed(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    initializers = {t.name for t in model.graph.initializer}
    feed = {}
    for vi in model.graph.input:
        if vi.name in initializers:
            continue
        t = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in t.shape.dim]
        feed[vi.name] = np.zeros(dims, dtype=helper.tensor_dtype_to_np_dtype(t.elem_type))
    return feed


def measure_latency(
    model: onnx.ModelProto | str | os.PathLike,
    *,
    repeats: int = 30,
    warmup: int = 3,
    threads: int = 1,
    seed: int = 0,
) -> float:
    """Median onnxruntime latency in milliseconds of one batch-1 inference on CPU.

    Inputs are random normal values of each graph input's shape with symbolic dimensions
    (the batch axis) set to 1. ``threads`` sets onnxruntime's intra-op threads.
    """
    import onnxruntime as ort

    source = str(model) if isinstance(model, str | Path) else model.SerializeToString()
    session = ort.InferenceSession(source, _options(threads), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feed = {}
    for arg in session.get_inputs():
        dims = [d if isinstance(d, int) else 1 for d in arg.shape]
        dtype = _ORT_TYPES.get(arg.type, np.float32)
        feed[arg.name] = rng.standard_normal(dims).astype(dtype)
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
}


def _options(threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return opts
