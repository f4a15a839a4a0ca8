"""The einspace module structures: sequential, branching and routing.

Their typing lives in the sampler/checker (:mod:`nas.typing`), their modules here.
A branching node's children are ``branch_fn, module_1 .. module_k, aggregation``; a
routing node's are ``pre_routing, module, post_routing``; a sequential node's are its
modules in order.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.ops.registry import OpSpec, register


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


def _structural(*_):
    raise AssertionError("structures are typed by nas.typing, not by infer()")


register(OpSpec("sequential", "sequential", _structural, doc="modules applied in order"))
for _k in (2, 4, 8):
    register(OpSpec(f"branch{_k}", "branching", _structural,
                    doc=f"{_k} branches: branch_fn, {_k} modules, aggregation"))
register(OpSpec("routing", "routing", _structural,
                doc="pre-routing, module, post-routing (e.g. im2col, linear, col2im = conv)"))
