"""Family ops: KAN layers, VersatileFFN, MetaMixer mixers, recurrent encoders, pointer decoder.

Shape arithmetic only; the modules are in :mod:`nas.ops.modules.families`.
"""

from __future__ import annotations

from nas.ops.registry import OpSpec, Shape, builds_in, numel, register

_built = builds_in("nas.ops.modules.families")

# --- KAN ------------------------------------------------------------------------------

KAN_BASES = ("bspline", "rbf", "cheby", "wavelet")


def kan_basis_count(basis: str, grid: int, order: int) -> int:
    """Basis functions per input: G + k B-splines, otherwise G functions."""
    return grid + order if basis == "bspline" else grid


def _kan_infer(x: Shape, args, ctx=None) -> Shape | None:
    width, grid, order, basis = args
    if basis not in KAN_BASES or (basis == "cheby" and grid < 2):
        return None
    return x[:-1] + (width,)


def _kan_params(x: Shape, args, ctx=None) -> int:
    width, grid, order, basis = args
    return x[-1] * width + width + width * x[-1] * kan_basis_count(basis, grid, order)


register(OpSpec(
    "kan", "computation", _kan_infer, _built("kan"), _kan_params,
    lambda x, a, c, o: numel(x[:-1]) * x[-1] * a[0] * (1 + kan_basis_count(a[3], a[1], a[2])),
    "KAN layer to WIDTH on grid G, order K, basis (bspline|rbf|cheby|wavelet)",
))


# --- VersatileFFN ---------------------------------------------------------------------


def _vffn_infer(x: Shape, args, ctx=None) -> Shape | None:
    hidden, experts, topk, _ = args
    return x if hidden % experts == 0 and topk <= experts else None


def _vffn_params(x: Shape, args, ctx=None) -> int:
    d, (hidden, experts, _, lmax) = x[-1], args
    return 2 * d * hidden + hidden + d + d * experts + experts + d * lmax + lmax


def _vffn_macs(x: Shape, args, ctx, out) -> int:
    # per token: the FFN (d*h twice) in width and in each of L_max passes, less the first
    # pass's fc1(x), which is the width path's (the exported graph computes it once),
    # plus the router (d*E) and the depth predictor (d*L_max)
    d, (hidden, experts, _, lmax) = x[-1], args
    return numel(x[:-1]) * (d * hidden * (1 + 2 * lmax) + d * (experts + lmax))


register(OpSpec(
    "vffn", "computation", _vffn_infer, _built("vffn"), _vffn_params, _vffn_macs,
    "VersatileFFN: shared FFN HIDDEN, E experts top-K in width, L_max passes in depth",
))


# --- MetaMixer ------------------------------------------------------------------------


def channels(x: Shape) -> int:
    """Channels of an image ``(C, H, W)`` or features of a sequence ``(S, D)``."""
    return x[0] if len(x) == 3 else x[1]


def _spatial_ok(x: Shape, k: int) -> bool:
    return (len(x) == 3 and k <= min(x[1], x[2])) or (len(x) == 2 and k <= x[0])


def _ffnattn_params(x: Shape, args, ctx=None) -> int:
    c, taps = channels(x), args[0] ** (len(x) - 1)
    return c * c + c + 2 * (c * taps + c)


register(OpSpec(
    "ffnattn", "computation", lambda x, a, c=None: x if _spatial_ok(x, a[0]) else None,
    _built("ffnattn"), _ffnattn_params,
    lambda x, a, c, o: numel(x) * (channels(x) + 2 * a[0] ** (len(x) - 1)),
    "MetaMixer FFNified attention: 1x1 conv -> depthwise K -> GELU -> depthwise K",
))


def _chanmix_params(x: Shape, args, ctx=None) -> int:
    c, (k, ratio) = channels(x), args
    return c * k ** (len(x) - 1) + c + 2 * ratio * c * c + ratio * c + c


register(OpSpec(
    "chanmix", "computation", lambda x, a, c=None: x if _spatial_ok(x, a[0]) else None,
    _built("chanmix"), _chanmix_params,
    lambda x, a, c, o: numel(x) * (a[0] ** (len(x) - 1) + 2 * a[1] * channels(x)),
    "ConvNeXt-style mixer: depthwise K -> 1x1 expand R -> GELU -> 1x1",
))


# --- sequence encoders and the pointer decoder -----------------------------------------


def _lstm_params(x: Shape, args, ctx=None, directions: int = 1) -> int:
    d, h = x[-1], args[0]
    return directions * (4 * h * (d + h) + 8 * h)


def _seq(x: Shape) -> bool:
    return len(x) == 2


register(OpSpec(
    "lstm", "computation", lambda x, a, c=None: (x[0], a[0]) if _seq(x) else None,
    _built("lstm"), _lstm_params,
    lambda x, a, c, o: x[0] * 4 * a[0] * (x[1] + a[0]),
    "LSTM over the sequence axis to HIDDEN features",
))
register(OpSpec(
    "bilstm", "computation", lambda x, a, c=None: (x[0], 2 * a[0]) if _seq(x) else None,
    _built("bilstm"), lambda x, a, c=None: _lstm_params(x, a, c, 2),
    lambda x, a, c, o: 2 * x[0] * 4 * a[0] * (x[1] + a[0]),
    "bidirectional LSTM to 2*HIDDEN features",
))

register(OpSpec(
    "selfattn", "computation",
    lambda x, a, c=None: x if _seq(x) and x[1] % a[0] == 0 else None,
    _built("selfattn"),
    lambda x, a, c=None: 4 * x[1] * x[1] + 4 * x[1],
    lambda x, a, c, o: 4 * x[0] * x[1] * x[1] + 2 * x[0] * x[0] * x[1],
    "multi-head self-attention with HEADS heads",
))


def _pointer_params(x: Shape, args, ctx=None) -> int:
    d, h = x[1], args[0]
    return 4 * h * (d + h) + 8 * h + d * h + h * h + h + d


register(OpSpec(
    "pointer", "computation", lambda x, a, c=None: (x[0], x[0]) if _seq(x) else None,
    _built("pointer"), _pointer_params,
    # the item keys W1 e_j once (N*D*H), then per step the cell, W2 d_i and v
    lambda x, a, c, o: x[0] * (x[1] * a[0] + 4 * a[0] * (x[1] + a[0]) + x[0] * a[0]
                               + a[0] * a[0]),
    "Ptr-Net decoder with HIDDEN units: (N, D) items -> (N, N) pointer scores",
))
