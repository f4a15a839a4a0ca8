"""Modules of the branching functions and aggregations (:mod:`nas.ops.branching`)."""

from __future__ import annotations

import math

import torch
from torch import nn


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


#: op name -> (x, args, ctx, out) -> nn.Module (a branch op's ctx is its branch count k)
BUILD = {
    "clone": lambda x, a, k, o: Clone(k),
    "group": lambda x, a, k, o: Group(k, a[0]),
    "add": lambda xs, a, c, o: Reduce("add"),
    "mul": lambda xs, a, c, o: Reduce("mul"),
    "concat": lambda xs, a, c, o: Reduce("concat", a[0]),
    "dot": lambda xs, a, c, o: Product("dot"),
    "sdot": lambda xs, a, c, o: Product("dot", 1.0 / math.sqrt(xs[0][-1])),
    "matmul": lambda xs, a, c, o: Product("matmul"),
}
