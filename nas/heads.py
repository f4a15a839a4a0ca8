"""Task heads, outside the grammar: what goes on top of a backbone's output.

A task names its head with a :class:`HeadSpec` (a kind and an output count); the kind is
looked up in :data:`HEADS`, which holds, per kind, the analytic rules the sampler needs
(which backbone outputs the head accepts, its exact parameter and MAC counts) and how the
builder makes the module.

* classification / regression: mean over the spatial axes of an image ``(C, H, W)`` or
  the sequence axis of ``(S, D)`` (vectors pass as they are), then ``Linear`` to
  ``n_outputs`` (einspace's head).
* pointer: the backbone must already give ``(N, N)`` scores over the ``N`` input items
  (e.g. Ptr-Net's ``pointer`` op, or an einspace dot-product attention); the head is the
  identity.

Shape arithmetic only (no torch), so that sampling and validating do not import it; the
head modules are built by :mod:`nas.builder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from nas.errors import TaskError
from nas.ops.registry import Shape
from nas.registry import Registry

if TYPE_CHECKING:
    from torch import nn

HeadKind = Literal["classification", "regression", "pointer"]


@dataclass(frozen=True)
class HeadSpec:
    """What the builder puts on top of a backbone: ``kind`` and its output count.

    ``n_outputs`` is the number of classes, of regression targets, or of pointer items.
    Raises :class:`~nas.errors.TaskError` naming the known kinds for an unknown ``kind``.
    """

    kind: HeadKind
    n_outputs: int

    def __post_init__(self) -> None:
        HEADS.get(self.kind)


@dataclass(frozen=True)
class PoolingHead:
    """Mean over spatial / sequence axes, then ``Linear`` to the outputs."""

    def accepts(self, n_outputs: int, out: Shape) -> bool:
        """Whether the head can sit on a backbone output ``out`` (one sample)."""
        return isinstance(out, tuple) and len(out) in (1, 2, 3)

    def params(self, n_outputs: int, out: Shape) -> int:
        """Exact parameter count of the head on ``out``."""
        return pooled_features(out) * n_outputs + n_outputs

    def macs(self, n_outputs: int, out: Shape) -> int:
        """Multiply-accumulates of the Linear (the mean pooling, a reduction, counts none)."""
        return pooled_features(out) * n_outputs

    def build(self, n_outputs: int, out: Shape) -> nn.Module:
        """The head module for a backbone output ``out``."""
        # torch: sampling reads this module and stays torch-free (issue 16)
        from nas.builder import PoolHead

        return PoolHead(out, n_outputs)


@dataclass(frozen=True)
class PointerHead:
    """The identity on ``(N, N)`` pointer scores that the backbone already gives."""

    def accepts(self, n_outputs: int, out: Shape) -> bool:
        """Whether the backbone gives ``(N, N)`` scores for ``N = n_outputs`` items."""
        return out == (n_outputs, n_outputs)

    def params(self, n_outputs: int, out: Shape) -> int:
        """The identity has no parameters."""
        return 0

    def macs(self, n_outputs: int, out: Shape) -> int:
        """The identity computes nothing."""
        return 0

    def build(self, n_outputs: int, out: Shape) -> nn.Module:
        """``nn.Identity``."""
        # torch: sampling reads this module and stays torch-free (issue 16)
        from torch import nn

        return nn.Identity()


HEADS: Registry[PoolingHead | PointerHead] = Registry(
    "head kind", error=TaskError, hint="a task's head is one of these kinds"
)
HEADS.register("classification", PoolingHead())
HEADS.register("regression", PoolingHead())
HEADS.register("pointer", PointerHead())


def pooled_features(shape: Shape) -> int:
    """Features left after the head's pooling of a backbone output ``shape``."""
    return shape[0] if len(shape) == 3 else shape[-1]


def head_accepts(head: HeadSpec, out: Shape) -> bool:
    """Whether ``head`` can sit on a backbone whose output per sample is ``out``."""
    return HEADS.get(head.kind).accepts(head.n_outputs, out)


def head_macs(head: HeadSpec, out: Shape) -> int:
    """Multiply-accumulates of the head on ``out`` for one sample (its Linear; the mean
    pooling, like every reduction, counts none: docs/export_store.md)."""
    return HEADS.get(head.kind).macs(head.n_outputs, out)


def head_params(head: HeadSpec, out: Shape) -> int:
    """Exact parameter count of the head on ``out``."""
    return HEADS.get(head.kind).params(head.n_outputs, out)


def build_head(head: HeadSpec, out: Shape) -> nn.Module:
    """The head module for a backbone output ``out``."""
    return HEADS.get(head.kind).build(head.n_outputs, out)
