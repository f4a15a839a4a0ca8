"""Branching functions (split one tensor into k) and aggregations (merge k into one)."""

from __future__ import annotations

import math

import torch
from torch import nn

from nas.ops.registry import OpSpec, Shape, numel, register

# Dimensions are numbered as in einspace, with the batch axis as 0: dim d of a
# per-sample shape x is x[d - 1].


class Clone(nn.Module):
    """Return ``k`` references to the input (branches must not modify inputs in place)."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x] * self.k


class Group(nn.Module):
    """Split the input into ``k`` equal chunks along ``dim``."""

    def __init__(self, k: int, dim: int):
        super().__init__()
        self.k, self.dim = k, dim

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.chunk(x, self.k, dim=self.dim))


def _group_infer(x: Shape, args, k: int) -> tuple[Shape, ...] | None:
    dim = args[0]
    if dim > len(x) or x[dim - 1] % k:
        return None
    chunk = x[:dim - 1] + (x[dim - 1] // k,) + x[dim:]
    return (chunk,) * k


register(OpSpec("clone", "branch", lambda x, a, k: (x,) * k,
                lambda x, a, k, o: Clone(k), doc="k copies of the input"))
register(OpSpec("group", "branch", _group_infer, lambda x, a, k, o: Group(k, a[0]),
                doc="k equal chunks along DIM (1 = first axis after batch)"))


# --- aggregations ----------------------------------------------------------------------


class Reduce(nn.Module):
    """Merge a list of tensors by ``add``, ``mul`` or ``concat`` along ``dim``."""

    def __init__(self, how: str, dim: int = 1):
        super().__init__()
        self.how, self.dim = how, dim

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if self.how == "concat":
            return torch.cat(xs, dim=self.dim)
        out = xs[0]
        for x in xs[1:]:
            out = out + x if self.how == "add" else out * x
        return out


class Product(nn.Module):
    """Batched matrix product of two branches: a @ b, a @ b^T, or a @ b^T / sqrt(d)."""

    def __init__(self, how: str, scale: float = 1.0):
        super().__init__()
        self.how, self.scale = how, scale

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        a, b = xs
        if self.how == "matmul":
            return a @ b
        out = a @ b.transpose(-1, -2)
        return out * self.scale if self.scale != 1.0 else out


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
                lambda xs, a, c, o: Reduce("add"), doc="sum of the branches"))
register(OpSpec("mul", "aggregate", lambda xs, a=(), c=None: _all_equal(xs),
                lambda xs, a, c, o: Reduce("mul"), doc="elementwise product of the branches"))
register(OpSpec("concat", "aggregate", _concat_infer,
                lambda xs, a, c, o: Reduce("concat", a[0]),
                doc="concatenation along DIM"))
register(OpSpec("dot", "aggregate", _dot_infer, lambda xs, a, c, o: Product("dot"),
                macs=_product_macs, doc="a @ b^T of two branches"))
register(OpSpec("sdot", "aggregate", _dot_infer,
                lambda xs, a, c, o: Product("dot", 1.0 / math.sqrt(xs[0][-1])),
                macs=_product_macs, doc="scaled dot product a @ b^T / sqrt(d)"))
register(OpSpec("matmul", "aggregate", _matmul_infer, lambda xs, a, c, o: Product("matmul"),
                macs=_product_macs, doc="a @ b of two branches"))
