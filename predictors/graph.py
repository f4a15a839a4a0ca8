"""Read any ONNX model into a plain view of its graph that the text encoder renders.

:func:`load_graph` runs ONNX shape inference (strict mode off), puts the nodes in
topological order, names every value ``v0, v1, ...`` by first appearance (graph inputs
first, then each node's outputs in order, sub-graph values right after the node that
owns them), writes initializers as ``Param[16,3,3,3]`` (``Constant`` and
``ConstantOfShape`` nodes without data inputs are folded into the parameter they
produce, so exporters that store weights or shapes either way read the same), and every
attribute as ``name=value`` (schema defaults filled in, so two exporters that differ
only in which defaults they spell out give the same view). The result is immutable
plain data with no reference to the protobuf, so it can be cached and rendered many
times.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, numpy_helper

from nas.errors import PredictorError
from nas.paths import input_file

#: a tensor shape: one int per axis (None: unknown or symbolic); None when the rank is unknown
Shape = tuple[int | None, ...] | None

_FLOAT_TYPES = {
    TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16,
}
_MAX_LIST = 16        # longer attribute lists are written as their first 8 items and a count
_MAX_WORD = 48        # longer string attributes are cut
_MAX_VALUES = 8       # integer tensors up to this many elements are written with their values
_CONSTANT_OPS = ("Constant", "ConstantOfShape")  # folded into Param arguments
_GRAPH_TYPES = (AttributeProto.GRAPH, AttributeProto.GRAPHS)
_RAW_DTYPES = {
    TensorProto.FLOAT: "<f4", TensorProto.DOUBLE: "<f8", TensorProto.INT64: "<i8",
    TensorProto.INT32: "<i4", TensorProto.INT8: "i1", TensorProto.UINT8: "u1",
    TensorProto.BOOL: "?", TensorProto.FLOAT16: "<f2",
}


class Arg(NamedTuple):
    """One input of a node: a named value (``v3``), a parameter tensor, or an omitted input.

    (NamedTuples, not dataclasses: a graph makes thousands and creation time counts.)
    """

    text: str                 # "v3", "Param[16,3,3,3]", "Param[2]=1,-1" or "_"
    kind: str                 # "value", "param" or "none"
    shape: Shape = None
    numel: int = 0            # parameters: number of elements
    is_float: bool = False    # parameters: floating point (counted as weights)


class OpNode(NamedTuple):
    """One operator of the graph, already formatted for the text encoder."""

    op: str                                   # "Conv", or "domain.Op" outside the ONNX domain
    inputs: tuple[Arg, ...]
    outputs: tuple[str, ...]                  # value names; "_" for an omitted optional output
    out_types: tuple[str, ...]                # "1x16x32x32", "int64 2", "?"
    out_shapes: tuple[Shape, ...]
    attrs: tuple[str, ...]                    # "name=value", sorted by name
    numbers: dict                             # numeric attribute values by name
    subgraphs: tuple[tuple[str, GraphView], ...] = ()


@dataclass(frozen=True)
class GraphView:
    """A graph as the encoder sees it: named inputs, ordered nodes, named outputs."""

    inputs: tuple[tuple[str, str], ...]       # (value name, type text)
    nodes: tuple[OpNode, ...]
    outputs: tuple[tuple[str, str], ...]      # (value name or Param text, type text)
    # float elements of initializers and folded constants (buffers included): a predictor
    # feature, not the store's params (nas.onnx_cost.count_params)
    params: int

    def n_ops(self) -> int:
        """Number of operators, sub-graphs included."""
        return sum(1 + sum(g.n_ops() for _, g in n.subgraphs) for n in self.nodes)


def load_graph(model: onnx.ModelProto | str | Path) -> GraphView:
    """Read ``model`` (a path or a ModelProto) into a :class:`GraphView`.

    Raises:
        PredictorError: the file cannot be read as ONNX, the model has no graph, a node
            uses a value that nothing defines, or the graph has a cycle.
    """
    read, data = _read_model(model)
    proto, nodes = _in_order(read)
    # shape inference adds value types only, so the node list stays valid; the file's
    # bytes are inferred directly when the node order did not change
    proto = _with_shapes(proto, nodes, data if proto is read else None)
    opsets = {("" if d.domain == "ai.onnx" else d.domain): d.version for d in proto.opset_import}
    return _Converter(opsets).graph(proto.graph, {}, nodes)


def _read_model(model: onnx.ModelProto | str | Path) -> tuple[onnx.ModelProto, bytes | None]:
    """The model, and the serialized bytes it was read from (None: not read from bytes)."""
    data = None
    if isinstance(model, onnx.ModelProto):
        proto = model
    elif isinstance(model, (str, Path)):
        path = input_file(model, "ONNX file", PredictorError)
        try:
            if _is_protobuf_file(path):  # what onnx.load does for these, keeping the bytes
                data = path.read_bytes()
                proto = onnx.load_model_from_string(data)
            else:
                proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf raises several types on garbage input
            raise PredictorError(f"cannot read {path} as an ONNX model ({exc})") from None
    else:
        raise PredictorError(
            f"expected an ONNX file path or onnx.ModelProto, got {type(model).__name__}"
        )
    if not proto.HasField("graph"):
        raise PredictorError("the ONNX model has no graph; nothing to encode")
    return proto, data


def _is_protobuf_file(path: Path) -> bool:
    """Whether onnx.load reads ``path`` as binary protobuf (its default format)."""
    fmt = onnx.serialization.registry.get_format_from_file_extension(path.suffix)
    return fmt in (None, "protobuf")


def _in_order(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, list[_Raw]]:
    """The model with its top-level nodes in topological order (shape inference needs
    it), and those nodes."""
    raws = [_Raw(n) for n in proto.graph.node]
    order = _topological(raws)
    if order is raws:
        return proto, raws
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    del copy.graph.node[:]
    copy.graph.node.extend(r.proto for r in order)
    return copy, order


def _with_shapes(proto: onnx.ModelProto, nodes: list[_Raw],
                 data: bytes | None = None) -> onnx.ModelProto:
    """Run shape inference unless every node output already has a type (a no-op then).

    ``nodes`` are the graph's nodes; ``data``, when given, is ``proto`` serialized (the
    file's bytes), inferred as is instead of serializing ``proto`` again."""
    g = proto.graph
    typed = {v.name for v in g.value_info} | {v.name for v in g.output}
    if all(o in typed for n in nodes for o in n.outputs if o):
        return proto
    try:
        return onnx.shape_inference.infer_shapes(proto if data is None else data,
                                                 strict_mode=False)
    except Exception:  # inference is best effort; unknown shapes are written as "?"
        return proto


#: (op, domain, opset, attribute bytes...) -> (attrs, numbers, ()) of graph-free nodes
_ATTRIBUTES: dict[tuple, tuple] = {}
_MAX_MEMO = 16384


class _Converter:
    """Turns GraphProtos into GraphViews, sharing one value counter across sub-graphs."""

    def __init__(self, opsets: dict[str, int]) -> None:
        self.opsets = opsets
        self.count = 0

    def new_name(self) -> str:
        self.count += 1
        return f"v{self.count - 1}"

    def graph(self, g: onnx.GraphProto, outer: dict[str, Arg],
              nodes_in_order: list[_Raw] | None = None) -> GraphView:
        types = {v.name: v.type for v in (*g.input, *g.value_info, *g.output)}
        inits = {t.name: _param_arg(t) for t in g.initializer}
        inits.update({s.values.name: _sparse_arg(s) for s in g.sparse_initializer})
        # scope: value name in the file -> its Arg; local initializers shadow outer values
        scope = {k: v for k, v in outer.items() if k not in inits}
        inputs = []
        for vi in g.input:
            if vi.name in inits:  # IR < 4 lists initializers among the inputs
                continue
            text, shape = _type_info(vi.type)
            scope[vi.name] = Arg(self.new_name(), "value", shape)
            inputs.append((scope[vi.name].text, text))
        nodes, folded = [], []
        order = nodes_in_order or _topological([_Raw(n) for n in g.node])
        for n in order:
            node = self.node(n, scope, inits, types)
            if isinstance(node, OpNode):
                nodes.append(node)
            else:
                folded.append(node)
        outputs = [(_resolve(o.name, scope, inits).text, type_text(o.type)) for o in g.output]
        params = sum(a.numel for a in (*inits.values(), *folded) if a.is_float)
        return GraphView(tuple(inputs), tuple(nodes), tuple(outputs), params)

    def node(self, n: _Raw, scope: dict, inits: dict, types: dict):
        """The node's OpNode, or the Param it stands for when it is a constant."""
        args = tuple([scope[x] if x in scope else _resolve(x, scope, inits) for x in n.inputs])
        if not n.domain and n.op_type in _CONSTANT_OPS and len(n.outputs) == 1 and n.outputs[0] \
                and all(a.kind != "value" for a in args):
            param = _constant_arg(n.proto, args, _type_info(types.get(n.outputs[0]))[1])
            scope[n.outputs[0]] = param
            return param
        # sub-graphs see the scope before this node's outputs
        before = dict(scope) if n.has_graph else scope
        outputs, out_types, out_shapes = [], [], []
        for o in n.outputs:
            tp = types.get(o)
            text, shape = _type_info_cached(tp.SerializeToString()) if tp is not None else _UNKNOWN
            out_types.append(text)
            out_shapes.append(shape)
            if o:
                name = f"v{self.count}"
                self.count += 1
                scope[o] = Arg(name, "value", shape)
                outputs.append(name)
            else:
                outputs.append("_")
        attrs, numbers, subgraphs = self.attributes(n, before)
        op = n.op_type if not n.domain else f"{n.domain}.{n.op_type}"
        return OpNode(op, args, tuple(outputs), tuple(out_types), tuple(out_shapes),
                      attrs, numbers, subgraphs)

    def attributes(self, n: _Raw, scope: dict):
        version = self.opsets.get(n.domain, 0)
        if n.has_graph:
            return self._attributes(n, scope, version)
        # nodes of one op with the same attribute bytes read the same: memoized
        key = (n.op_type, n.domain, version, *[a.SerializeToString() for a in n.attrs])
        found = _ATTRIBUTES.get(key)
        if found is None:
            found = self._attributes(n, scope, version)
            if len(_ATTRIBUTES) >= _MAX_MEMO:
                _ATTRIBUTES.clear()
            _ATTRIBUTES[key] = found
        return found

    def _attributes(self, n: _Raw, scope: dict, version: int):
        defaults = _schema_defaults(n.op_type, n.domain, version)
        merged = {**defaults, **{a.name: a for a in n.attrs}} if n.attrs else defaults
        attrs, numbers, subgraphs = [], {}, []
        for name in sorted(merged):
            a = merged[name]
            kind = a.type
            if kind == AttributeProto.GRAPH:
                subgraphs.append((name, self.graph(a.g, scope)))
                continue
            if kind == AttributeProto.GRAPHS:
                subgraphs += [(f"{name}[{i}]", self.graph(g, scope))
                              for i, g in enumerate(a.graphs)]
                continue
            attrs.append(f"{name}={attr_text(a)}")
            if kind == AttributeProto.INT:
                numbers[name] = a.i
            elif kind == AttributeProto.FLOAT:
                numbers[name] = a.f
            elif kind == AttributeProto.INTS:
                numbers[name] = list(a.ints)
            elif kind == AttributeProto.FLOATS:
                numbers[name] = list(a.floats)
        return tuple(attrs), numbers, tuple(subgraphs)


# ---------------------------------------------------------------- graph order and names


class _Raw:
    """The fields of a NodeProto read once (protobuf field access is slow in Python)."""

    __slots__ = ("proto", "op_type", "domain", "inputs", "outputs", "attrs", "has_graph")

    def __init__(self, n: onnx.NodeProto) -> None:
        self.proto = n
        self.op_type = n.op_type
        domain = n.domain
        self.domain = "" if domain in ("", "ai.onnx") else domain
        self.inputs = list(n.input)
        self.outputs = list(n.output)
        self.attrs = attrs = list(n.attribute)
        self.has_graph = bool(attrs) and any(a.type in _GRAPH_TYPES for a in attrs)


def _topological(nodes: list[_Raw]) -> list[_Raw]:
    """Nodes in topological order; the file's order where it already is one (it must be)."""
    producer = {o: i for i, n in enumerate(nodes) for o in n.outputs if o}
    deps: list[set[int]] = []
    in_order = True
    for i, n in enumerate(nodes):
        used = set(n.inputs)
        if n.has_graph:
            used |= _free_names_of_node(n.proto)
        ds = {producer[u] for u in used if u in producer and producer[u] != i}
        in_order = in_order and all(d < i for d in ds)
        deps.append(ds)
    if in_order:
        return nodes
    users: list[list[int]] = [[] for _ in nodes]
    for i, ds in enumerate(deps):
        for d in ds:
            users[d].append(i)
    waiting = [len(ds) for ds in deps]
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(nodes[i])
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(nodes):
        raise PredictorError("the ONNX graph has a cycle; it is not a valid model")
    return order


def _free_names_of_node(n: onnx.NodeProto) -> set[str]:
    free: set[str] = set()
    for a in n.attribute:
        for sub in ([a.g] if a.type == AttributeProto.GRAPH else list(a.graphs)):
            free |= _free_names(sub)
    return free


def _free_names(g: onnx.GraphProto) -> set[str]:
    """Names a sub-graph uses from the enclosing scopes."""
    defined = {v.name for v in g.input} | {t.name for t in g.initializer}
    defined |= {s.values.name for s in g.sparse_initializer}
    used: set[str] = set()
    for n in g.node:
        used |= set(n.input) | _free_names_of_node(n)
        defined |= set(n.output)
    used |= {o.name for o in g.output}
    return used - defined - {""}


def _resolve(name: str, scope: dict, inits: dict) -> Arg:
    if not name:
        return Arg("_", "none")
    if name in scope:
        return scope[name]
    if name in inits:
        return inits[name]
    raise PredictorError(
        f"the ONNX graph uses value {name!r} that no node, input or initializer defines; "
        "run onnx.checker.check_model on the file"
    )


# ---------------------------------------------------------------- formatting


def _param_arg(t: TensorProto, label: str = "Param") -> Arg:
    dims = tuple(t.dims)
    numel = math.prod(dims)
    dtype = t.data_type
    if numel != 1 and (numel > _MAX_VALUES or dtype in _FLOAT_TYPES):  # no values written
        return Arg(f"{label}[{','.join(map(str, dims))}]", "param", dims, numel,
                   dtype in _FLOAT_TYPES)
    return Arg(tensor_text(t, label), "param", dims, numel, dtype in _FLOAT_TYPES)


def _constant_arg(n: onnx.NodeProto, args: tuple[Arg, ...], shape: Shape) -> Arg:
    """A constant-producing node written as the parameter it produces."""
    a = n.attribute[0] if n.attribute else None
    if n.op_type == "ConstantOfShape":
        is_float = a is None or a.t.data_type in _FLOAT_TYPES
        if shape is None or any(d is None for d in shape):
            return Arg("Param[?]", "param", shape, 0, is_float)
        dims = tuple(int(d) for d in shape)
        return Arg(f"Param[{','.join(map(str, dims))}]", "param", dims, math.prod(dims),
                         is_float)
    if a is None:
        return Arg("Param[?]", "param", None, 0, False)
    T = AttributeProto
    if a.type == T.TENSOR:
        return _param_arg(a.t)
    if a.type == T.SPARSE_TENSOR:
        return _sparse_arg(a.sparse_tensor)
    if a.type in (T.INT, T.FLOAT):
        return Arg(f"Param[]={attr_text(a)}", "param", (), 1, a.type == T.FLOAT)
    items = {T.INTS: a.ints, T.FLOATS: a.floats, T.STRINGS: a.strings}.get(a.type, [])
    text = f"Param[{len(items)}]"
    if a.type == T.INTS and len(items) <= _MAX_VALUES:
        text += "=" + ",".join(map(str, items))
    return Arg(text, "param", (len(items),), len(items), a.type == T.FLOATS)


def _sparse_arg(s: onnx.SparseTensorProto) -> Arg:
    dims = tuple(int(d) for d in s.dims)
    return Arg(f"Param[{','.join(map(str, dims))}]", "param", dims, math.prod(dims),
                     s.values.data_type in _FLOAT_TYPES)


def tensor_text(t: TensorProto, label: str = "Param") -> str:
    """``Param[16,3,3,3]``; small integer tensors and scalars with values: ``Param[2]=1,-1``."""
    dims = [int(d) for d in t.dims]
    text = f"{label}[{','.join(map(str, dims))}]"
    numel = math.prod(dims)
    wants = numel == 1 or (numel <= _MAX_VALUES and t.data_type not in _FLOAT_TYPES)
    if not wants or t.data_location == TensorProto.EXTERNAL or t.data_type == TensorProto.STRING:
        return text
    try:
        values = _values(t)
    except Exception:  # unusual encodings: the shape alone is still informative
        return text
    return text + "=" + ",".join(_num(v) for v in values)


def _values(t: TensorProto) -> list:
    """The elements of a small tensor (fast path for raw little-endian data)."""
    if t.raw_data and t.data_type in _RAW_DTYPES:
        return np.frombuffer(t.raw_data, dtype=_RAW_DTYPES[t.data_type]).tolist()
    return numpy_helper.to_array(t).reshape(-1).tolist()


def attr_text(a: AttributeProto) -> str:
    """The compact text of one attribute value; equal-element lists collapse to one item."""
    if a.ref_attr_name:
        return f"@{a.ref_attr_name}"
    T = AttributeProto
    if a.type == T.INT:
        return str(a.i)
    if a.type == T.FLOAT:
        return _num(a.f)
    if a.type == T.STRING:
        return _word(a.s)
    if a.type == T.INTS:
        return _list([str(i) for i in a.ints])
    if a.type == T.FLOATS:
        return _list([_num(f) for f in a.floats])
    if a.type == T.STRINGS:
        return _list([_word(s) for s in a.strings])
    if a.type == T.TENSOR:
        return tensor_text(a.t, "Tensor")
    if a.type == T.TENSORS:
        return _list([tensor_text(t, "Tensor") for t in a.tensors])
    if a.type == T.SPARSE_TENSOR:
        return f"Sparse[{','.join(map(str, a.sparse_tensor.dims))}]"
    if a.type == T.SPARSE_TENSORS:
        return f"Sparse*{len(a.sparse_tensors)}"
    if a.type == T.TYPE_PROTO:
        return type_text(a.tp).replace(" ", "_")
    if a.type == T.TYPE_PROTOS:
        return _list([type_text(t).replace(" ", "_") for t in a.type_protos])
    return "?"


def type_text(tp: onnx.TypeProto | None) -> str:
    """``1x16x32x32`` for float tensors, ``int64 2`` otherwise, ``?`` when unknown."""
    return _type_info(tp)[0]


def _type_info(tp: onnx.TypeProto | None) -> tuple[str, Shape]:
    """(type text, tensor shape) of a value's type."""
    if tp is None:
        return _UNKNOWN
    return _type_info_cached(tp.SerializeToString())


_UNKNOWN = ("?", None)


@lru_cache(maxsize=4096)
def _type_info_cached(serialized: bytes) -> tuple[str, Shape]:
    # many values share a type, and reading a TypeProto field by field is slow
    tp = onnx.TypeProto.FromString(serialized)
    kind = tp.WhichOneof("value")
    if kind == "tensor_type":
        return _tensor_type(tp.tensor_type)
    if kind == "sparse_tensor_type":
        return "sparse " + _tensor_type(tp.sparse_tensor_type)[0], None
    if kind == "sequence_type":
        return f"seq({type_text(tp.sequence_type.elem_type)})", None
    if kind == "optional_type":
        return f"opt({type_text(tp.optional_type.elem_type)})", None
    if kind == "map_type":
        key = _dtype(tp.map_type.key_type)
        return f"map({key},{type_text(tp.map_type.value_type)})", None
    return "?", None


def _tensor_type(tt) -> tuple[str, Shape]:
    dtype = "" if tt.elem_type == TensorProto.FLOAT else _dtype(tt.elem_type) + " "
    if not tt.HasField("shape"):
        return dtype + "?", None
    shape, texts = [], []
    for d in tt.shape.dim:
        which = d.WhichOneof("value")
        if which == "dim_value":
            shape.append(d.dim_value)
            texts.append(str(d.dim_value))
        else:
            shape.append(None)
            texts.append(_word(d.dim_param.encode()) if which == "dim_param" else "?")
    return dtype + ("x".join(texts) if texts else "scalar"), tuple(shape)


@lru_cache(maxsize=64)
def _dtype(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"dtype{elem_type}"


def _num(v) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    return format(float(v), ".4g")


def _word(s: bytes) -> str:
    text = s.decode("utf-8", errors="replace")
    text = "_".join(text.split()) or "''"
    return text if len(text) <= _MAX_WORD else text[:_MAX_WORD] + "..."


def _list(items: list[str]) -> str:
    if not items:
        return "[]"
    if all(i == items[0] for i in items):
        return items[0]
    if len(items) > _MAX_LIST:
        return ",".join(items[:8]) + f",...({len(items)})"
    return ",".join(items)


@lru_cache(maxsize=4096)
def _schema_defaults(op_type: str, domain: str, version: int) -> dict:
    """name -> default AttributeProto of the op's schema at the model's opset (do not mutate)."""
    if version <= 0:
        return {}
    try:
        schema = onnx.defs.get_schema(op_type, version, domain)
    except Exception:  # custom or unknown op: only the attributes the node has
        return {}
    return {
        name: a.default_value for name, a in sorted(schema.attributes.items())
        if a.default_value.type != AttributeProto.UNDEFINED
    }
