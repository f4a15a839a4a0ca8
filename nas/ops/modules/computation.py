"""Modules of the computation ops (:mod:`nas.ops.computation`)."""

from __future__ import annotations

import math

import torch
from torch import nn

from nas.ops.registry import Shape


class LecunLinear(nn.Linear):
    """Linear layer with LeCun-normal weights and zero bias, as SELU networks need."""

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(self.in_features))
        nn.init.zeros_(self.bias)


class PositionalEncoding(nn.Module):
    """A learnable tensor of the input's shape added to every sample."""

    def __init__(self, shape: Shape):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, *shape) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


class SequenceDepthwiseConv(nn.Module):
    """Depthwise 1-D convolution along S of a (B, S, D) sequence, 'same' padding."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, S, D)


def _norm(x: Shape, args, ctx, out) -> nn.Module:
    return nn.BatchNorm2d(x[0]) if len(x) == 3 else nn.LayerNorm(x[-1])


def _dwconv(x: Shape, args, ctx, out) -> nn.Module:
    k = args[0]
    if len(x) == 3:
        return nn.Conv2d(x[0], x[0], k, padding=k // 2, groups=x[0])
    return SequenceDepthwiseConv(x[1], k)


#: op name -> (x, args, ctx, out) -> nn.Module
BUILD = {
    "identity": lambda x, a, c, o: nn.Identity(),
    "relu": lambda x, a, c, o: nn.ReLU(),
    "leakyrelu": lambda x, a, c, o: nn.LeakyReLU(0.01),
    "gelu": lambda x, a, c, o: nn.GELU(),
    "silu": lambda x, a, c, o: nn.SiLU(),
    "selu": lambda x, a, c, o: nn.SELU(),
    "tanh": lambda x, a, c, o: nn.Tanh(),
    "alphadropout": lambda x, a, c, o: nn.AlphaDropout(0.05),
    "linear": lambda x, a, c, o: nn.Linear(x[-1], a[0]),
    "lecun_linear": lambda x, a, c, o: LecunLinear(x[-1], a[0]),
    "norm": _norm,
    "softmax": lambda x, a, c, o: nn.Softmax(dim=-1),
    "posenc": lambda x, a, c, o: PositionalEncoding(x),
    "flatten": lambda x, a, c, o: nn.Flatten(1),
    "dwconv": _dwconv,
    "conv1x1": lambda x, a, c, o: nn.Conv2d(x[0], a[0], 1),
}
