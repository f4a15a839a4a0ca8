"""Branching functions (split one tensor into k) and aggregations (merge k into one).

Shape arithmetic only; the modules are in :mod:`nas.ops.modules.branching`.
"""

from __future__ import annotations

from nas.ops.registry import OpSpec, Shape, builds_in, numel, register

_built = builds_in("nas.ops.modules.branching")

# Dimensions are numbered as in einspace, with the batch axis as 0: dim d of a
# per-sample shape x is x[d - 1].


def _group_infer(x: Shape, args, k: int) -> tuple[Shape, ...] | None:
    dim = args[0]
    if dim > len(x) or x[dim - 1] % k:
        return None
    chunk = x[:dim - 1] + (x[dim - 1] // k,) + x[dim:]
    return (chunk,) * k


register(OpSpec("clone", "branch", lambda x, a, k: (x,) * k, _built("clone"),
                doc="k copies of the input"))
register(OpSpec("group", "branch", _group_infer, _built("group"),
                doc="k equal chunks along DIM (1 = first axis after batch)"))


# --- aggregations ----------------------------------------------------------------------


def _all_equal(xs: tuple[Shape, ...]) -> Shape | None:
    return xs[0] if xs.count(xs[0]) == len(xs) else None


def _concat_infer(xs: tuple[Shape, ...], args, ctx=None) -> Shape | None:
    d = args[0] - 1  # einspace numbering: dim 1 is the first axis after the batch
    first = xs[0]
    if d >= len(first):
        return None
    before, after, total = first[:d], first[d + 1:], 0
    for x in xs:  # a hot path of the sampler: plain loop, no generators
        if len(x) != len(first) or x[:d] != before or x[d + 1:] != after:
            return None
        total += x[d]
    return before + (total,) + after


def _dot_infer(xs: tuple[Shape, ...], args=(), ctx=None) -> Shape | None:
    if len(xs) != 2 or len(xs[0]) < 2 or len(xs[0]) != len(xs[1]):
        return None
    a, b = xs
    if a[:-2] != b[:-2] or a[-1] != b[-1]:
        return None
    return a[:-1] + (b[-2],)


def _matmul_infer(xs: tuple[Shape, ...], args=(), ctx=None) -> Shape | None:
    if len(xs) != 2 or len(xs[0]) < 2 or len(xs[0]) != len(xs[1]):
        return None
    a, b = xs
    if a[:-2] != b[:-2] or a[-1] != b[-2]:
        return None
    return a[:-1] + (b[-1],)


def _product_macs(xs, args, ctx, out: Shape) -> int:
    return numel(out) * xs[0][-1]


register(OpSpec("add", "aggregate", lambda xs, a=(), c=None: _all_equal(xs),
                _built("add"), doc="sum of the branches"))
register(OpSpec("mul", "aggregate", lambda xs, a=(), c=None: _all_equal(xs),
                _built("mul"), doc="elementwise product of the branches"))
register(OpSpec("concat", "aggregate", _concat_infer, _built("concat"),
                doc="concatenation along DIM"))
register(OpSpec("dot", "aggregate", _dot_infer, _built("dot"),
                macs=_product_macs, doc="a @ b^T of two branches"))
register(OpSpec("sdot", "aggregate", _dot_infer, _built("sdot"),
                macs=_product_macs, doc="scaled dot product a @ b^T / sqrt(d)"))
register(OpSpec("matmul", "aggregate", _matmul_infer, _built("matmul"),
                macs=_product_macs, doc="a @ b of two branches"))
