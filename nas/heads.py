"""Task heads, outside the grammar: what goes on top of a backbone's output.

* classification / regression: mean over the spatial axes of an image ``(C, H, W)`` or
  the sequence axis of ``(S, D)`` (vectors pass as they are), then ``Linear`` to
  ``n_outputs`` (einspace's head).
* pointer: the backbone must already give ``(N, N)`` scores over the ``N`` input items
  (e.g. Ptr-Net's ``pointer`` op, or an einspace dot-product attention); the head is the
  identity.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.tasks.base import HeadSpec
from nas.ops.registry import Shape


def pooled_features(shape: Shape) -> int:
    """Features left after the head's pooling of a backbone output ``shape``."""
    return shape[0] if len(shape) == 3 else shape[-1]


def head_accepts(head: HeadSpec, out: Shape) -> bool:
    """Whether ``head`` can sit on a backbone whose output per sample is ``out``."""
    if head.kind == "pointer":
        return out == (head.n_outputs, head.n_outputs)
    return isinstance(out, tuple) and len(out) in (1, 2, 3)


def head_params(head: HeadSpec, out: Shape) -> int:
    """Exact parameter count of the head on ``out``."""
    if head.kind == "pointer":
        return 0
    return pooled_features(out) * head.n_outputs + head.n_outputs


class PoolHead(nn.Module):
    """Mean over spatial / sequence axes, then a linear map to the outputs."""

    def __init__(self, out: Shape, n_outputs: int):
        super().__init__()
        self.pool_dims = {3: (2, 3), 2: (1,), 1: ()}[len(out)]
        self.fc = nn.Linear(pooled_features(out), n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool_dims:
            x = x.mean(dim=self.pool_dims)
        return self.fc(x)


def build_head(head: HeadSpec, out: Shape) -> nn.Module:
    """The head module for a backbone output ``out``."""
    if head.kind == "pointer":
        return nn.Identity()
    return PoolHead(out, head.n_outputs)
