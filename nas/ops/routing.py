"""Routing functions: permutes, im2col and its inverse col2im (einspace's P and R).

Shape arithmetic only; the modules are in :mod:`nas.ops.modules.routing`.
"""

from __future__ import annotations

from nas.ops.registry import OpSpec, Shape, builds_in, numel, register

_built = builds_in("nas.ops.modules.routing")


def _permute_infer(x: Shape, args, ctx=None) -> Shape | None:
    order = args[0]
    if not isinstance(order, tuple) or sorted(order) != list(range(1, len(x) + 1)):
        return None
    return tuple(x[i - 1] for i in order)


register(OpSpec("permute", "route", _permute_infer, _built("permute"),
                doc="permute the axes (ORDER is 1-based over the non-batch axes)"))


def out_len(size: int, k: int, s: int, p: int) -> int:
    """Windows of size ``k``, stride ``s``, padding ``p`` along an axis of ``size``."""
    return (size + 2 * p - k) // s + 1


def _im2col_infer(x: Shape, args, ctx=None) -> Shape | None:
    k, s, p = args[0]
    if len(x) == 3:
        c, h, w = x
        if h + 2 * p < k or w + 2 * p < k:
            return None
        return (out_len(h, k, s, p) * out_len(w, k, s, p), c * k * k)
    if len(x) == 2:
        length, d = x
        if length + 2 * p < k:
            return None
        return (out_len(length, k, s, p), d * k)
    return None


register(OpSpec("im2col", "route", _im2col_infer, _built("im2col"),
                # a grouped Conv with one-hot kernels: k (1-D) or k*k (2-D) per output
                macs=lambda x, a, c, o: numel(o) * a[0][0] ** (len(x) - 1),
                doc="sliding windows K,S,P as rows (images: 2-D; sequences: 1-D along S)"))


def col2im_grid(ctx) -> tuple[int, int] | None:
    """The (H', W') grid a col2im restores, from its routing context ``(pre_op,
    pre_args, shape_before_pre)``; None unless the pre-routing op is a 2-D im2col."""
    pre_op, pre_args, before = ctx
    if pre_op != "im2col" or len(before) != 3:
        return None
    k, s, p = pre_args[0]
    return out_len(before[1], k, s, p), out_len(before[2], k, s, p)


def _col2im_infer(x: Shape, args, ctx) -> Shape | None:
    grid = col2im_grid(ctx) if ctx else None
    if grid is None or len(x) != 2 or x[0] != grid[0] * grid[1]:
        return None
    return (x[1],) + grid


register(OpSpec("col2im", "route", _col2im_infer, _built("col2im"),
                doc="inverse of a 2-D im2col: rows back to a (D, H', W') grid"))
