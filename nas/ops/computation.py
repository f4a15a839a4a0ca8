"""Computation ops: shape-preserving or last-axis maps (einspace's C terminals and more)."""

from __future__ import annotations

import math

import torch
from torch import nn

from nas.ops.registry import OpSpec, Shape, numel, register


def _same(x: Shape, args=(), ctx=None) -> Shape:
    return x


def _register_pointwise(name: str, factory, doc: str) -> None:
    register(OpSpec(name, "computation", _same, lambda x, a, c, o: factory(), doc=doc))


_register_pointwise("identity", nn.Identity, "identity map")
_register_pointwise("relu", nn.ReLU, "ReLU")
_register_pointwise("leakyrelu", lambda: nn.LeakyReLU(0.01), "LeakyReLU(0.01)")
_register_pointwise("gelu", nn.GELU, "GELU (exact)")
_register_pointwise("silu", nn.SiLU, "SiLU / swish")
_register_pointwise("selu", nn.SELU, "SELU (self-normalizing; pair with lecun_linear)")
_register_pointwise("tanh", nn.Tanh, "tanh")
_register_pointwise("alphadropout", lambda: nn.AlphaDropout(0.05), "AlphaDropout(0.05), for SELU")


# --- linear maps on the last axis -------------------------------------------------------


def _linear_infer(x: Shape, args, ctx=None) -> Shape | None:
    return x[:-1] + (args[0],)


def _linear_params(x: Shape, args, ctx=None) -> int:
    return x[-1] * args[0] + args[0]


def _linear_macs(x: Shape, args, ctx, out: Shape) -> int:
    return numel(x[:-1]) * x[-1] * args[0]


class LecunLinear(nn.Linear):
    """Linear layer with LeCun-normal weights and zero bias, as SELU networks need."""

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(self.in_features))
        nn.init.zeros_(self.bias)


register(OpSpec(
    "linear", "computation", _linear_infer,
    lambda x, a, c, o: nn.Linear(x[-1], a[0]), _linear_params, _linear_macs,
    "linear map of the last axis to WIDTH features",
))
register(OpSpec(
    "lecun_linear", "computation", _linear_infer,
    lambda x, a, c, o: LecunLinear(x[-1], a[0]), _linear_params, _linear_macs,
    "linear map with LeCun-normal init (self-normalizing nets)",
))


# --- normalisation, softmax, positional encoding ----------------------------------------


def _norm_infer(x: Shape, args=(), ctx=None) -> Shape | None:
    return x if len(x) == 3 or x[-1] >= 2 else None  # LayerNorm of 1 feature is constant


def _norm_build(x: Shape, args, ctx, out) -> nn.Module:
    return nn.BatchNorm2d(x[0]) if len(x) == 3 else nn.LayerNorm(x[-1])


register(OpSpec(
    "norm", "computation", _norm_infer, _norm_build,
    lambda x, a, c=None: 2 * (x[0] if len(x) == 3 else x[-1]),
    lambda x, a, c, o: 2 * numel(x),
    "BatchNorm2d on images (C,H,W), LayerNorm on the last axis otherwise",
))

register(OpSpec(
    "softmax", "computation", lambda x, a=(), c=None: x if x[-1] >= 2 else None,
    lambda x, a, c, o: nn.Softmax(dim=-1), doc="softmax over the last axis",
))


class PositionalEncoding(nn.Module):
    """A learnable tensor of the input's shape added to every sample."""

    def __init__(self, shape: Shape):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, *shape) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


register(OpSpec(
    "posenc", "computation", lambda x, a=(), c=None: x if len(x) >= 2 else None,
    lambda x, a, c, o: PositionalEncoding(x), lambda x, a, c=None: numel(x),
    lambda x, a, c, o: numel(x), "learnable positional encoding (added)",
))

register(OpSpec(
    "flatten", "computation", lambda x, a=(), c=None: (numel(x),),
    lambda x, a, c, o: nn.Flatten(1), doc="flatten every axis into one vector",
))


# --- convolutions -----------------------------------------------------------------------


class SequenceDepthwiseConv(nn.Module):
    """Depthwise 1-D convolution along S of a (B, S, D) sequence, 'same' padding."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, S, D)


def _dwconv_infer(x: Shape, args, ctx=None) -> Shape | None:
    k = args[0]
    if len(x) == 3 and k <= min(x[1], x[2]):
        return x
    if len(x) == 2 and k <= x[0]:
        return x
    return None


def _dwconv_build(x: Shape, args, ctx, out) -> nn.Module:
    k = args[0]
    if len(x) == 3:
        return nn.Conv2d(x[0], x[0], k, padding=k // 2, groups=x[0])
    return SequenceDepthwiseConv(x[1], k)


def _dwconv_params(x: Shape, args, ctx=None) -> int:
    k, channels = args[0], (x[0] if len(x) == 3 else x[1])
    return channels * k ** (len(x) - 1) + channels


register(OpSpec(
    "dwconv", "computation", _dwconv_infer, _dwconv_build, _dwconv_params,
    lambda x, a, c, o: numel(x) * a[0] ** (len(x) - 1),
    "depthwise KxK conv on images / K conv along S on sequences, same padding (odd K)",
))


def _conv1x1_infer(x: Shape, args, ctx=None) -> Shape | None:
    return (args[0],) + x[1:] if len(x) == 3 else None


register(OpSpec(
    "conv1x1", "computation", _conv1x1_infer,
    lambda x, a, c, o: nn.Conv2d(x[0], a[0], 1),
    lambda x, a, c=None: x[0] * a[0] + a[0],
    lambda x, a, c, o: numel(o) * x[0],
    "pointwise conv mixing image channels C -> WIDTH",
))
