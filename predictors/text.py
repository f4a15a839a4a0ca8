"""ONNX graph -> deterministic text, and back to its edges.

The text has one line per item, for example (some attributes left out here)::

    input v0 1x3x32x32
    v1 = Conv(v0, Param[16,3,3,3], Param[16]) group=1 kernel_shape=3 pads=1 -> 1x16x32x32
    v2 = Relu(v1) -> 1x16x32x32
    v3 = Add(v2, v0) -> 1x16x32x32
    output v3 1x16x32x32

* ``input vK TYPE`` / ``output vK TYPE``: graph inputs and outputs. A float tensor's type
  is its shape (``1x3x32x32``); other types carry their dtype (``int64 2``), ``?`` is
  unknown, ``scalar`` rank 0.
* ``OUTS = Op(ARGS) ATTRS -> TYPES``: one operator. Values are named ``v0, v1, ...`` by
  first appearance, so an edge is a name used as an argument: skip connections and
  branches are explicit. Parameters are ``Param[dims]`` (small integer tensors and
  scalars also show their values: ``Param[2]=1,-1``); an omitted optional input or
  output is ``_``. Every attribute, schema defaults included, is ``name=value`` sorted
  by name; lists whose elements are all equal collapse to one (``kernel_shape=3``).
  Ops outside the ONNX domain are written ``domain.Op``.
* ``  attr {`` ... ``  }``: the sub-graph of a control-flow attribute (If, Loop, Scan),
  indented under its node; it shares the value numbering.

Length bound: the text is at most ``max_chars`` characters (default
:data:`DEFAULT_MAX_CHARS`). When the full text is longer it is summarized in two steps:

1. consecutive repeated blocks (same ops, attributes, parameter and output shapes and the
   same wiring relative to the block) are collapsed into ``repeat xK (vA..vB) { ... }``:
   the body is the first instance; instance ``t`` is the body with every value number
   shifted by ``t * (B - A + 1) / K``, so the edges stay exact;
2. if still too long, the head and tail are kept and the middle becomes one line
   ``... N ops omitted: Conv x40, Relu x38, ...`` (the op histogram of what was left out).

A single line longer than the bound (not seen in practice) is cut with a ``... cut``
marker, so the bound always holds.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import onnx

from nas.errors import PredictorError
from predictors.graph import GraphView, OpNode, load_graph

#: default length bound of :func:`onnx_to_text`, in characters
DEFAULT_MAX_CHARS = 20_000
#: smallest accepted bound (one omitted-ops line must fit)
MIN_MAX_CHARS = 120
#: longest repeated block the summarizer looks for, in ops
MAX_BLOCK = 64

_CUT = "\n... cut"
_VALUE = re.compile(r"^v(\d+)$")


def onnx_to_text(
    model: onnx.ModelProto | str | Path | GraphView, *, max_chars: int = DEFAULT_MAX_CHARS
) -> str:
    """Encode an ONNX model (file path, ModelProto or loaded :class:`GraphView`) as text.

    Returns:
        The text described in this module's docstring, at most ``max_chars`` long.
    Raises:
        PredictorError: the model cannot be read or is not a valid graph, or
            ``max_chars`` is below :data:`MIN_MAX_CHARS`.
    """
    if max_chars < MIN_MAX_CHARS:
        raise PredictorError(f"max_chars must be at least {MIN_MAX_CHARS}, got {max_chars}")
    view = model if isinstance(model, GraphView) else load_graph(model)
    return render(view, max_chars)


def render(view: GraphView, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Render a loaded graph within ``max_chars`` (see the module docstring)."""
    lines = full_lines(view)
    text = "\n".join(lines)
    if len(text) <= max_chars:
        return text
    items = _graph_items(view, "", collapse=True)
    text = _join(items)
    if len(text) <= max_chars:
        return text
    return _head_tail(items, max_chars)


# ---------------------------------------------------------------- rendering


@dataclass
class _Item:
    """A top-level chunk of text that the summarizer keeps or drops whole."""

    lines: list[str]
    ops: Counter


def _join(items: list[_Item]) -> str:
    return "\n".join(line for it in items for line in it.lines)


def _graph_items(view: GraphView, indent: str, collapse: bool) -> list[_Item]:
    items = [_Item([f"{indent}input {n} {t}"], Counter()) for n, t in view.inputs]
    nodes = list(view.nodes)
    runs = _repeats(nodes) if collapse else [(i, 1, 1) for i in range(len(nodes))]
    for start, length, times in runs:
        if times == 1:
            items.append(_node_item(nodes[start], indent, collapse))
        else:
            items.append(_repeat_item(nodes[start:start + length], times, indent))
    items += [_Item([f"{indent}output {n} {t}"], Counter()) for n, t in view.outputs]
    return items


def full_lines(view: GraphView, indent: str = "", out: list[str] | None = None) -> list[str]:
    """The lines of the whole text (no summary), appended to ``out``; fast path of
    :func:`render` when the text fits (the same lines as its items)."""
    out = [] if out is None else out
    out += [f"{indent}input {n} {t}" for n, t in view.inputs]
    for node in view.nodes:
        out.append(indent + node_line(node))
        for name, sub in node.subgraphs:
            out.append(f"{indent}  {name} {{")
            full_lines(sub, indent + "    ", out)
            out.append(f"{indent}  }}")
    out += [f"{indent}output {n} {t}" for n, t in view.outputs]
    return out


def full_length(view: GraphView) -> int:
    """``len(render(view, max_chars))`` for any bound the whole text fits in."""
    lines = full_lines(view)
    return sum(map(len, lines)) + len(lines) - 1 if lines else 0


def node_line(node: OpNode) -> str:
    """``v5 = Conv(v4, Param[16,3,3,3]) group=1 ... -> 1x16x32x32`` for one node."""
    outs = ", ".join(node.outputs) or "_"
    args = ", ".join(a.text for a in node.inputs)
    attrs = (" " + " ".join(node.attrs)) if node.attrs else ""
    return f"{outs} = {node.op}({args}){attrs} -> {', '.join(node.out_types) or '_'}"


def _node_item(node: OpNode, indent: str, collapse: bool) -> _Item:
    lines = [indent + node_line(node)]
    ops = Counter([node.op])
    for name, sub in node.subgraphs:
        lines.append(f"{indent}  {name} {{")
        for it in _graph_items(sub, indent + "    ", collapse):
            lines += it.lines
            ops += it.ops
        lines.append(f"{indent}  }}")
    return _Item(lines, ops)


def _repeat_item(block: list[OpNode], times: int, indent: str) -> _Item:
    first = _value_numbers(block)
    period = len(first)
    start, end = first[0], first[0] + period * times - 1
    lines = [f"{indent}repeat x{times} (v{start}..v{end}) {{"]
    lines += [indent + "  " + node_line(n) for n in block]
    lines.append(indent + "}")
    ops = Counter()
    for n in block:
        ops[n.op] += times
    return _Item(lines, ops)


def _value_numbers(nodes: list[OpNode]) -> list[int]:
    return [int(o[1:]) for n in nodes for o in n.outputs if o != "_"]


# ---------------------------------------------------------------- repeated blocks


def _signature(node: OpNode) -> tuple | None:
    """What must match for two nodes to be instances of one block; None: never repeats."""
    numbers = [int(o[1:]) for o in node.outputs if o != "_"]
    if node.subgraphs or not numbers or len(numbers) != len(node.outputs):
        return None
    first = numbers[0]
    args = tuple(
        first - int(a.text[1:]) if a.kind == "value" else a.text for a in node.inputs
    )
    return (node.op, args, node.attrs, node.out_types)


def _repeats(nodes: list[OpNode]) -> list[tuple[int, int, int]]:
    """Greedy left-to-right cover of ``nodes`` by (start, block length, repeat count)."""
    ids: dict[tuple, int] = {}
    sig = []
    for i, n in enumerate(nodes):
        s = _signature(n)
        sig.append(-1 - i if s is None else ids.setdefault(s, len(ids)))
    runs, i, n = [], 0, len(sig)
    while i < n:
        best = (0, 1, 1)  # (saved ops, length, times)
        for length in range(1, min(MAX_BLOCK, (n - i) // 2) + 1):
            if sig[i] != sig[i + length]:
                continue
            times = 1
            while (i + (times + 1) * length <= n
                   and sig[i:i + length] == sig[i + times * length:i + (times + 1) * length]):
                times += 1
            saved = length * (times - 1)
            if times > 1 and saved > best[0]:
                best = (saved, length, times)
        _, length, times = best
        runs.append((i, length, times))
        i += length * times
    return runs


# ---------------------------------------------------------------- head / tail summary


def _head_tail(items: list[_Item], max_chars: int) -> str:
    """Keep whole items from the start and the end; summarize the middle in one line."""
    sizes = [sum(len(x) + 1 for x in it.lines) for it in items]
    reserve = min(240, max_chars // 3)
    budget = max_chars - reserve
    head, used = 0, 0
    while head < len(items) and used + sizes[head] <= budget * 0.6:
        used += sizes[head]
        head += 1
    tail = len(items)
    while tail > head and used + sizes[tail - 1] <= budget:
        used += sizes[tail - 1]
        tail -= 1
    omitted = sum((it.ops for it in items[head:tail]), Counter())
    summary = _omitted_line(omitted, tail - head, max_chars - used)
    lines = [x for it in items[:head] for x in it.lines] + [summary]
    lines += [x for it in items[tail:] for x in it.lines]
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = text[: max_chars - len(_CUT)] + _CUT
    return text


def _omitted_line(ops: Counter, n_items: int, room: int) -> str:
    total = sum(ops.values())
    line = f"... {total} ops omitted" if total else f"... {n_items} lines omitted"
    parts = [f"{op} x{k}" for op, k in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))]
    out = line
    for i in range(len(parts)):
        candidate = line + ": " + ", ".join(parts[: i + 1])
        if len(candidate) > room - 2:
            break
        out = candidate
    return out


# ---------------------------------------------------------------- parsing back


class OpLine(NamedTuple):
    """One parsed operator line of the text."""

    outputs: tuple[str, ...]
    op: str
    args: tuple[str, ...]
    attrs: tuple[str, ...]
    types: tuple[str, ...]
    depth: int           # nesting level (0: top-level graph)
    repeat: int          # how many times the line stands for (inside ``repeat xK``: K)


def parse_op_line(line: str) -> tuple[tuple[str, ...], str, tuple[str, ...], tuple[str, ...],
                                      tuple[str, ...]] | None:
    """Split ``OUTS = Op(ARGS) ATTRS -> TYPES``; None when ``line`` is not an op line."""
    outs, eq, rest = line.partition(" = ")
    if not eq:
        return None
    op, paren, rest = rest.partition("(")
    args, close, rest = rest.partition(")")
    if not paren or not close:
        return None
    attrs, arrow, types = rest.rpartition(" -> ")
    if not arrow:
        return None
    return (
        tuple(outs.split(", ")), op, tuple(args.split(", ")) if args else (),
        tuple(attrs.split()), tuple(types.split(", ")),
    )


def iter_text(text: str):
    """Yield ``("input"|"output", name, type, depth)``, ``("op", OpLine)`` and
    ``("omitted", line)`` events for every line of an encoded text, repeats included once."""
    stack: list[int] = []     # repeat count of each open block (1 for sub-graph blocks)
    for raw in text.splitlines():
        line = raw.strip()
        times = 1
        for k in stack:
            times *= k
        if line.startswith(("input ", "output ")):
            kind, name, typ = (line.split(" ", 2) + ["?"])[:3]
            yield kind, name, typ, len(stack)
        elif line.startswith("repeat x") and line.endswith("{"):
            stack.append(int(line[8:].split(" ", 1)[0]))
        elif line.endswith(" {"):
            stack.append(1)
        elif line == "}":
            if stack:
                stack.pop()
        elif line.startswith("..."):
            yield "omitted", line
        else:
            parsed = parse_op_line(line)
            if parsed is not None:
                yield "op", OpLine(*parsed, depth=len(stack), repeat=times)


def parse_edges(text: str) -> list[tuple[str, str]]:
    """The value edges written in ``text``: ``(input value, output value)`` for every op.

    An op ``v7 = Add(v6, v4)`` gives ``(v6, v7)`` and ``(v4, v7)``; parameters and
    omitted inputs give no edge. ``repeat xK`` blocks are expanded (instance ``t`` shifts
    every value number by ``t`` times the block's period), so the list equals the graph's
    real edges whenever no ``... omitted`` line was needed.
    """
    frames: list[list] = [[[], None]]   # [edges, (times, period) or None]
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("repeat x") and line.endswith("{"):
            times, span = line[8:-1].split(" ", 1)
            a, b = (int(x.strip("v")) for x in span.strip(" ()").split(".."))
            frames.append([[], (int(times), (b - a + 1) // int(times))])
        elif line.endswith(" {") and not line.startswith(("input ", "output ")):
            frames.append([[], None])
        elif line == "}" and len(frames) > 1:
            edges, rep = frames.pop()
            if rep is not None:
                times, period = rep
                edges = [(_shift(s, t * period), _shift(d, t * period))
                         for t in range(times) for s, d in edges]
            frames[-1][0].extend(edges)
        else:
            parsed = parse_op_line(line)
            if parsed is None:
                continue
            outs, _, args, _, _ = parsed
            frames[-1][0].extend(
                (a, o) for a in args if _VALUE.match(a) for o in outs if o != "_"
            )
    return frames[0][0]


def _shift(name: str, by: int) -> str:
    return f"v{int(name[1:]) + by}"
