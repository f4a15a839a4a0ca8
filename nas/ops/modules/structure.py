"""Modules of the structures (:mod:`nas.ops.structure`); the builder composes them."""

from __future__ import annotations

import torch
from torch import nn


class SequentialModule(nn.Sequential):
    """Children applied in order."""


class BranchingModule(nn.Module):
    """Split, apply one module per branch, aggregate."""

    def __init__(self, split: nn.Module, branches: list[nn.Module], merge: nn.Module):
        super().__init__()
        self.split, self.branches, self.merge = split, nn.ModuleList(branches), merge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = self.split(x)
        return self.merge([branch(part) for branch, part in zip(self.branches, parts, strict=True)])


class RoutingModule(nn.Module):
    """Pre-route, apply the inner module, post-route."""

    def __init__(self, pre: nn.Module, inner: nn.Module, post: nn.Module):
        super().__init__()
        self.pre, self.inner, self.post = pre, inner, post

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.inner(self.pre(x)))
