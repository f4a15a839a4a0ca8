"""Computation ops: shape-preserving or last-axis maps (einspace's C terminals and more).

Shape arithmetic only; the modules are in :mod:`nas.ops.modules.computation`.
"""

from __future__ import annotations

from nas.ops.registry import OpSpec, Shape, builds_in, numel, register

_built = builds_in("nas.ops.modules.computation")


def _same(x: Shape, args=(), ctx=None) -> Shape:
    return x


_POINTWISE = {
    "identity": "identity map",
    "relu": "ReLU",
    "leakyrelu": "LeakyReLU(0.01)",
    "gelu": "GELU (exact)",
    "silu": "SiLU / swish",
    "selu": "SELU (self-normalizing; pair with lecun_linear)",
    "tanh": "tanh",
    "alphadropout": "AlphaDropout(0.05), for SELU",
}
for _name, _doc in _POINTWISE.items():
    register(OpSpec(_name, "computation", _same, _built(_name), doc=_doc))


# --- linear maps on the last axis -------------------------------------------------------


def _linear_infer(x: Shape, args, ctx=None) -> Shape | None:
    return x[:-1] + (args[0],)


def _linear_params(x: Shape, args, ctx=None) -> int:
    return x[-1] * args[0] + args[0]


def _linear_macs(x: Shape, args, ctx, out: Shape) -> int:
    return numel(x[:-1]) * x[-1] * args[0]


register(OpSpec(
    "linear", "computation", _linear_infer, _built("linear"), _linear_params, _linear_macs,
    "linear map of the last axis to WIDTH features",
))
register(OpSpec(
    "lecun_linear", "computation", _linear_infer, _built("lecun_linear"), _linear_params,
    _linear_macs, "linear map with LeCun-normal init (self-normalizing nets)",
))


# --- normalisation, softmax, positional encoding ----------------------------------------


def _norm_infer(x: Shape, args=(), ctx=None) -> Shape | None:
    return x if len(x) == 3 or x[-1] >= 2 else None  # LayerNorm of 1 feature is constant


register(OpSpec(
    "norm", "computation", _norm_infer, _built("norm"),
    lambda x, a, c=None: 2 * (x[0] if len(x) == 3 else x[-1]),
    doc="BatchNorm2d on images (C,H,W), LayerNorm on the last axis otherwise",
))

register(OpSpec(
    "softmax", "computation", lambda x, a=(), c=None: x if x[-1] >= 2 else None,
    _built("softmax"), doc="softmax over the last axis",
))

register(OpSpec(
    "posenc", "computation", lambda x, a=(), c=None: x if len(x) >= 2 else None,
    _built("posenc"), lambda x, a, c=None: numel(x),
    doc="learnable positional encoding (added)",
))

register(OpSpec(
    "flatten", "computation", lambda x, a=(), c=None: (numel(x),),
    _built("flatten"), doc="flatten every axis into one vector",
))


# --- convolutions -----------------------------------------------------------------------


def _dwconv_infer(x: Shape, args, ctx=None) -> Shape | None:
    k = args[0]
    if len(x) == 3 and k <= min(x[1], x[2]):
        return x
    if len(x) == 2 and k <= x[0]:
        return x
    return None


def _dwconv_params(x: Shape, args, ctx=None) -> int:
    k, channels = args[0], (x[0] if len(x) == 3 else x[1])
    return channels * k ** (len(x) - 1) + channels


register(OpSpec(
    "dwconv", "computation", _dwconv_infer, _built("dwconv"), _dwconv_params,
    lambda x, a, c, o: numel(x) * a[0] ** (len(x) - 1),
    "depthwise KxK conv on images / K conv along S on sequences, same padding (odd K)",
))


def _conv1x1_infer(x: Shape, args, ctx=None) -> Shape | None:
    return (args[0],) + x[1:] if len(x) == 3 else None


register(OpSpec(
    "conv1x1", "computation", _conv1x1_infer, _built("conv1x1"),
    lambda x, a, c=None: x[0] * a[0] + a[0],
    lambda x, a, c, o: numel(o) * x[0],
    "pointwise conv mixing image channels C -> WIDTH",
))
