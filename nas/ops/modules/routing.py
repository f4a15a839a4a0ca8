"""Modules of the routing functions (:mod:`nas.ops.routing`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.ops.registry import Shape
from nas.ops.routing import col2im_grid


class Permute(nn.Module):
    """Permute the per-sample axes; ``order`` is 1-based over the non-batch axes."""

    def __init__(self, order: tuple[int, ...]):
        super().__init__()
        self.order = (0,) + tuple(order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.order)


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


class Col2Im(nn.Module):
    """(B, H'W', D) -> (B, D, H', W'): restore the grid recorded at the matching im2col."""

    def __init__(self, height: int, width: int):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.height, self.width)


def _im2col(x: Shape, args, ctx, out) -> nn.Module:
    k, s, p = args[0]
    channels = x[0] if len(x) == 3 else x[1]
    return Im2Col(channels, k, s, p, spatial_dims=len(x) - 1)


#: op name -> (x, args, ctx, out) -> nn.Module
BUILD = {
    "permute": lambda x, a, c, o: Permute(a[0]),
    "im2col": _im2col,
    "col2im": lambda x, a, c, o: Col2Im(*col2im_grid(c)),
}
