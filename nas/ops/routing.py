"""Routing functions: permutes, im2col and its inverse col2im (einspace's P and R)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.ops.registry import OpSpec, Shape, numel, register


class Permute(nn.Module):
    """Permute the per-sample axes; ``order`` is 1-based over the non-batch axes."""

    def __init__(self, order: tuple[int, ...]):
        super().__init__()
        self.order = (0,) + tuple(order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.order)


def _permute_infer(x: Shape, args, ctx=None) -> Shape | None:
    order = args[0]
    if not isinstance(order, tuple) or sorted(order) != list(range(1, len(x) + 1)):
        return None
    return tuple(x[i - 1] for i in order)


register(OpSpec("permute", "route", _permute_infer, lambda x, a, c, o: Permute(a[0]),
                doc="permute the axes (ORDER is 1-based over the non-batch axes)"))


def _out_len(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


class Im2Col(nn.Module):
    """Sliding windows as rows: (B,C,H,W) -> (B, H'W', C*k*k); (B,S,D) -> (B, S', D*k).

    Written as a grouped convolution with fixed one-hot kernels, so the window order
    matches ``F.unfold`` (channel-major, then kernel row, then column) and export is one
    plain Conv op on every exporter.
    """

    def __init__(self, channels: int, k: int, s: int, p: int, spatial_dims: int):
        super().__init__()
        self.stride, self.padding, self.spatial_dims = s, p, spatial_dims
        taps = k ** spatial_dims
        eye = torch.eye(taps).reshape(taps, 1, *([k] * spatial_dims))
        self.register_buffer("kernel", eye.repeat(channels, 1, *([1] * spatial_dims)))
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spatial_dims == 2:
            y = F.conv2d(x, self.kernel, stride=self.stride, padding=self.padding,
                         groups=self.channels)  # (B, C*k*k, H', W')
            return y.flatten(2).transpose(1, 2)  # (B, H'W', C*k*k)
        y = F.conv1d(x.transpose(1, 2), self.kernel, stride=self.stride,
                     padding=self.padding, groups=self.channels)  # (B, D*k, S')
        return y.transpose(1, 2)  # (B, S', D*k)


def _im2col_infer(x: Shape, args, ctx=None) -> Shape | None:
    k, s, p = args[0]
    if len(x) == 3:
        c, h, w = x
        if h + 2 * p < k or w + 2 * p < k:
            return None
        return (_out_len(h, k, s, p) * _out_len(w, k, s, p), c * k * k)
    if len(x) == 2:
        length, d = x
        if length + 2 * p < k:
            return None
        return (_out_len(length, k, s, p), d * k)
    return None


def _im2col_build(x: Shape, args, ctx, out) -> nn.Module:
    k, s, p = args[0]
    channels = x[0] if len(x) == 3 else x[1]
    return Im2Col(channels, k, s, p, spatial_dims=len(x) - 1)


register(OpSpec("im2col", "route", _im2col_infer, _im2col_build,
                macs=lambda x, a, c, o: numel(o),
                doc="sliding windows K,S,P as rows (images: 2-D; sequences: 1-D along S)"))


class Col2Im(nn.Module):
    """(B, H'W', D) -> (B, D, H', W'): restore the grid recorded at the matching im2col."""

    def __init__(self, height: int, width: int):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.height, self.width)


def _grid(ctx) -> tuple[int, int] | None:
    pre_op, pre_args, before = ctx
    if pre_op != "im2col" or len(before) != 3:
        return None
    k, s, p = pre_args[0]
    return _out_len(before[1], k, s, p), _out_len(before[2], k, s, p)


def _col2im_infer(x: Shape, args, ctx) -> Shape | None:
    grid = _grid(ctx) if ctx else None
    if grid is None or len(x) != 2 or x[0] != grid[0] * grid[1]:
        return None
    return (x[1],) + grid


register(OpSpec("col2im", "route", _col2im_infer,
                lambda x, a, c, o: Col2Im(*_grid(c)),
                doc="inverse of a 2-D im2col: rows back to a (D, H', W') grid"))
