"""Task heads, outside the grammar: what goes on top of a backbone's output.

* classification / regression: mean over the spatial axes of an image ``(C, H, W)`` or
  the sequence axis of ``(S, D)`` (vectors pass as they are), then ``Linear`` to
  ``n_outputs`` (einspace's head).
* pointer: the backbone must already give ``(N, N)`` scores over the ``N`` input items
  (e.g. Ptr-Net's ``pointer`` op, or an einspace dot-product attention); the head is the
  identity.

Shape arithmetic only (no torch): the head modules are built by :mod:`nas.builder`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.ops.registry import Shape

if TYPE_CHECKING:  # annotations only: bench.tasks imports torch (issue 16)
    from bench.tasks.base import HeadSpec


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
