"""The op registry: one entry per grammar op, serving the sampler, builder and exporter.

Every op declares analytically which input shapes it accepts and what it returns
(:attr:`OpSpec.infer`), its exact parameter count and its multiply-accumulate count, and
how to build it as an ``nn.Module``. No layer is ever allocated to learn a shape.

Shapes exclude the batch axis: images ``(C, H, W)``, sequences ``(S, D)``, vectors ``(D,)``.
What ``infer`` receives depends on the op's kind:

* ``computation`` and ``route``: a shape -> a shape.
* ``branch``: a shape and the branch count ``k`` (as ``ctx``) -> a tuple of ``k`` shapes.
* ``aggregate``: a tuple of shapes -> a shape.
* ``post`` routing ops receive ``ctx = (pre_op, pre_args, shape_before_pre)``.

``infer`` returns ``None`` when the op does not accept its input.
The op modules here (``computation``, ``branching``...) hold only this shape arithmetic
and import no torch, so grammars, sampling and checking start fast (issue 16); the
``nn.Module`` each op builds lives in :mod:`nas.ops.modules`, reached through
:class:`LazyBuild` on the first build.
Structures (``sequential``, ``branching``, ``routing``) are registered with the kind of
structure; the sampler and builder give them their meaning.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any

from nas.errors import GrammarError

Shape = tuple[int, ...]
STRUCTURES = ("sequential", "branching", "routing")
# leaf routing ops (im2col, permute, col2im) have kind "route"; "routing" is the structure
KINDS = ("computation", "branch", "aggregate", "route") + STRUCTURES


def _zero(*_: Any) -> int:
    return 0


@dataclass(frozen=True)
class OpSpec:
    """What the platform knows about one op.

    Attributes:
        name: the grammar rule name of the op.
        kind: one of :data:`KINDS`.
        infer: ``(x, args, ctx) -> out | None`` (see the module docstring).
        build: ``(x, args, ctx, out) -> nn.Module`` mapping ``(B, *x)`` to ``(B, *out)``
            (a :class:`LazyBuild`, so that the registry needs no torch).
        params: ``(x, args, ctx) -> int``, exactly the built module's parameter count.
        macs: ``(x, args, ctx, out) -> int`` multiply-accumulates for one sample, exactly
            as :func:`nas.onnx_cost.count_macs` counts the exported module (MatMul, Gemm,
            Conv, recurrent and Einsum nodes; norms, elementwise ops and reductions none).
        doc: one line shown by ``nas grammars --ops``.
    """

    name: str
    kind: str
    infer: Callable[..., Any]
    build: Callable[..., Any] | None = None
    params: Callable[..., int] = _zero
    macs: Callable[..., int] = _zero
    doc: str = ""


@dataclass(frozen=True)
class LazyBuild:
    """The ``build`` of op ``op``: ``BUILD[op]`` of the torch module ``module``, imported
    on the first call (torch: keep grammars and sampling torch-free, issue 16)."""

    module: str
    op: str

    def __call__(self, x, args, ctx, out):
        return importlib.import_module(self.module).BUILD[self.op](x, args, ctx, out)


def builds_in(module: str) -> Callable[[str], LazyBuild]:
    """``builds_in("nas.ops.modules.x")("linear")`` is ``LazyBuild("nas.ops.modules.x",
    "linear")``: one line per op in the spec modules."""
    return lambda op: LazyBuild(module, op)


_REGISTRY: dict[str, OpSpec] = {}


def register(spec: OpSpec) -> OpSpec:
    """Add ``spec`` to the registry (a second op of the same name is a bug)."""
    if spec.kind not in KINDS:
        raise ValueError(f"op {spec.name!r}: unknown kind {spec.kind!r}")
    if spec.name in _REGISTRY:
        raise ValueError(f"op {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def get_op(name: str) -> OpSpec:
    """The registered op ``name``; GrammarError listing the known ops otherwise."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GrammarError(
            f"unknown op {name!r}: not in the op registry (known: {', '.join(sorted(_REGISTRY))})"
        ) from None


def is_registered(name: str) -> bool:
    """Whether ``name`` is a registered op."""
    _load_all()
    return name in _REGISTRY


def all_ops() -> dict[str, OpSpec]:
    """Every registered op by name."""
    _load_all()
    return dict(_REGISTRY)


_loaded = False


def _load_all() -> None:
    # The op modules register themselves on import; importing here keeps one entry point.
    global _loaded
    if _loaded:
        return
    _loaded = True
    from nas.ops import (  # noqa: F401
        branching,
        computation,
        families,
        routing,
        structure,
    )


def numel(shape: Shape) -> int:
    """Elements of one sample of ``shape``."""
    return prod(shape)
