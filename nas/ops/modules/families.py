"""Modules of the family ops (:mod:`nas.ops.families`): KAN layers, VersatileFFN,
MetaMixer mixers, recurrent encoders, the pointer decoder.

Every module here is free of data-dependent Python control flow: loops run a fixed
number of times known at build time, so the legacy and dynamo ONNX exporters both trace
them faithfully.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nas.ops.families import channels, kan_basis_count
from nas.ops.modules.computation import SequenceDepthwiseConv
from nas.ops.registry import Shape

# --- KAN -------------------------------------------------------------------------


def bspline_basis(u: torch.Tensor, grid: int, order: int) -> torch.Tensor:
    """B-splines of order ``order`` on ``grid`` uniform intervals of [-1, 1], extended by
    ``order`` knots each side (pykan / efficient-kan). ``(..., n) -> (..., n, G + k)``.

    Cox-de Boor recursion with comparisons and slicing only, so it exports to ONNX.
    """
    h = 2.0 / grid
    knots = torch.arange(-order, grid + order + 1, dtype=u.dtype, device=u.device) * h - 1.0
    x = u.unsqueeze(-1)
    basis = ((x >= knots[:-1]) & (x < knots[1:])).to(u.dtype)  # order 0: G + 2k intervals
    for p in range(1, order + 1):
        left = (x - knots[: -(p + 1)]) / (p * h) * basis[..., :-1]
        right = (knots[p + 1:] - x) / (p * h) * basis[..., 1:]
        basis = left + right
    return basis


def _centres(grid: int, u: torch.Tensor) -> tuple[torch.Tensor, float]:
    centres = torch.linspace(-1.0, 1.0, grid, dtype=u.dtype, device=u.device)
    return centres, 2.0 / max(grid - 1, 1)


def kan_basis(u: torch.Tensor, basis: str, grid: int, order: int) -> torch.Tensor:
    """Evaluate the selected basis on ``u`` in [-1, 1]: ``(..., n) -> (..., n, count)``."""
    if basis == "bspline":
        return bspline_basis(u, grid, order)
    if basis == "cheby":
        # T_0 = 1, T_1 = u, T_{d+1} = 2u T_d - T_{d-1}  (= cos(d acos u) on [-1, 1])
        terms = [torch.ones_like(u), u]
        for _ in range(2, grid):
            terms.append(2 * u * terms[-1] - terms[-2])
        return torch.stack(terms[:grid], dim=-1)
    centres, width = _centres(grid, u)
    z = (u.unsqueeze(-1) - centres) / width
    if basis == "rbf":
        return torch.exp(-z * z)
    return (1 - z * z) * torch.exp(-0.5 * z * z)  # Mexican-hat wavelet


class KANLayer(nn.Module):
    """A KAN layer: ``y = SiLU(x) W_base + B(tanh x) W_spline`` on the last axis.

    ``tanh`` keeps every input on the basis grid [-1, 1] (the basis is zero outside it,
    which otherwise stalls training), per feature and without mixing features.
    """

    def __init__(self, d_in: int, d_out: int, grid: int, order: int, basis: str):
        super().__init__()
        self.grid, self.order, self.basis = grid, order, basis
        count = kan_basis_count(basis, grid, order)
        self.base = nn.Linear(d_in, d_out)
        self.spline = nn.Parameter(torch.randn(d_out, d_in * count) / math.sqrt(d_in * count))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = kan_basis(torch.tanh(x), self.basis, self.grid, self.order)  # (..., n, count)
        return self.base(F.silu(x)) + b.flatten(-2) @ self.spline.t()


# --- VersatileFFN ----------------------------------------------------------------


class VersatileFFN(nn.Module):
    """One FFN reused in width (top-k virtual experts) and depth (up to L_max passes).

    Width: expert e owns hidden units [e*H/E, (e+1)*H/E); a router picks the top-k
    experts per token and the FFN runs once with a per-unit mask (dense, static).
    Depth: the FFN is applied L_max times residually, always; a predictor's one-hot
    (Gumbel-softmax while training, argmax otherwise) selects the depth.
    Gate: lambda = (L_max - E[L]) / L_max; y = lambda * width + (1 - lambda) * depth.
    """

    def __init__(self, dim: int, hidden: int, experts: int, topk: int, lmax: int):
        super().__init__()
        self.experts, self.topk, self.lmax = experts, topk, lmax
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.router = nn.Linear(dim, experts)
        self.depth = nn.Linear(dim, lmax)

    def ffn(self, x: torch.Tensor, unit_mask: torch.Tensor | None = None) -> torch.Tensor:
        hidden = F.gelu(self.fc1(x))
        return self.fc2(hidden if unit_mask is None else hidden * unit_mask)

    def expert_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Per-hidden-unit weights from the top-k routing: ``(..., H)``."""
        logits = self.router(x)
        top, idx = logits.topk(self.topk, dim=-1)
        weights = torch.zeros_like(logits).scatter(-1, idx, torch.softmax(top, dim=-1))
        per_expert = self.fc1.out_features // self.experts
        return weights.unsqueeze(-1).expand(*weights.shape, per_expert).flatten(-2)

    def depth_choice(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(one-hot over depths 1..L_max, expected depth E[L])."""
        logits = self.depth(x)
        probs = torch.softmax(logits, dim=-1)
        levels = torch.arange(1, self.lmax + 1, dtype=x.dtype, device=x.device)
        expected = (probs * levels).sum(-1, keepdim=True)
        if self.training:
            return F.gumbel_softmax(logits, tau=1.0, hard=True), expected
        return (logits == logits.max(-1, keepdim=True).values).to(x.dtype), expected

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width_out = self.ffn(x, self.expert_mask(x))
        passes, h = [], x
        for _ in range(self.lmax):  # always L_max passes: no data-dependent loop
            h = h + self.ffn(h)
            passes.append(h)
        choice, expected = self.depth_choice(x)
        depth_out = (torch.stack(passes, dim=-1) * choice.unsqueeze(-2)).sum(-1)
        gate = (self.lmax - expected) / self.lmax
        return gate * width_out + (1 - gate) * depth_out


# --- MetaMixer -------------------------------------------------------------------


def _depthwise(x: Shape, k: int) -> nn.Module:
    if len(x) == 3:
        return nn.Conv2d(x[0], x[0], k, padding=k // 2, groups=x[0])
    return SequenceDepthwiseConv(x[1], k)


def _pointwise(x: Shape, c_in: int, c_out: int) -> nn.Module:
    return nn.Conv2d(c_in, c_out, 1) if len(x) == 3 else nn.Linear(c_in, c_out)


def _ffnattn_build(x: Shape, args, ctx, out) -> nn.Module:
    c, k = channels(x), args[0]
    return nn.Sequential(_pointwise(x, c, c), _depthwise(x, k), nn.GELU(), _depthwise(x, k))


def _chanmix_build(x: Shape, args, ctx, out) -> nn.Module:
    c, (k, ratio) = channels(x), args
    return nn.Sequential(_depthwise(x, k), _pointwise(x, c, ratio * c), nn.GELU(),
                         _pointwise(x, ratio * c, c))


# --- sequence encoders and the pointer decoder -----------------------------------


class LSTMEncoder(nn.Module):
    """(B, S, D) -> (B, S, H) or (B, S, 2H) when bidirectional."""

    def __init__(self, d_in: int, hidden: int, bidirectional: bool):
        super().__init__()
        self.lstm = nn.LSTM(d_in, hidden, batch_first=True, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


class SelfAttention(nn.Module):
    """Multi-head self-attention over the sequence axis, written with plain ops."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).reshape(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, s, d))  # (B, S, D)


class PointerDecoder(nn.Module):
    """Ptr-Net decoder: (B, N, D) item encodings -> (B, N, N) scores, one row per step.

    An LSTM cell fed the previously pointed item; additive attention
    ``u_j = v^T tanh(W1 e_j + W2 d_i)``; positions already chosen are masked. The decode
    is unrolled N times (N fixed per model), greedy, so it exports as a static graph.
    """

    MASK = -1.0e4

    def __init__(self, dim: int, hidden: int, items: int):
        super().__init__()
        self.items = items
        self.cell = nn.LSTMCell(dim, hidden)
        self.w_enc = nn.Linear(dim, hidden, bias=False)
        self.w_dec = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, 1, bias=False)
        self.start = nn.Parameter(torch.zeros(dim))

    def forward(self, enc: torch.Tensor) -> torch.Tensor:
        keys = self.w_enc(enc)  # (B, N, H)
        h = enc.new_zeros(enc.shape[0], self.cell.hidden_size)
        c, chosen = h, enc.new_zeros(enc.shape[:2])  # (B, H), (B, N)
        step_input = self.start.expand(enc.shape[0], -1)
        positions = torch.arange(self.items, device=enc.device)
        rows = []
        for _ in range(self.items):
            h, c = self.cell(step_input, (h, c))
            scores = self.v(torch.tanh(keys + self.w_dec(h).unsqueeze(1))).squeeze(-1)
            scores = scores + chosen * self.MASK  # (B, N)
            rows.append(scores)
            pick = (positions == scores.argmax(-1, keepdim=True)).to(enc.dtype)  # one-hot
            chosen = chosen + pick
            step_input = (pick.unsqueeze(-1) * enc).sum(1)  # the pointed item's encoding
        return torch.stack(rows, dim=1)


#: op name -> (x, args, ctx, out) -> nn.Module
BUILD = {
    "kan": lambda x, a, c, o: KANLayer(x[-1], a[0], a[1], a[2], a[3]),
    "vffn": lambda x, a, c, o: VersatileFFN(x[-1], *a),
    "ffnattn": _ffnattn_build,
    "chanmix": _chanmix_build,
    "lstm": lambda x, a, c, o: LSTMEncoder(x[1], a[0], False),
    "bilstm": lambda x, a, c, o: LSTMEncoder(x[1], a[0], True),
    "selfattn": lambda x, a, c, o: SelfAttention(x[1], a[0]),
    "pointer": lambda x, a, c, o: PointerDecoder(x[1], a[0], x[0]),
}
