"""Build a torch ``nn.Module`` from an architecture, an input shape and a task head."""

from __future__ import annotations

import torch
from torch import nn

from nas.architecture import Architecture
from nas.derive import NodeInfo
from nas.errors import ArchitectureError
from nas.heads import HeadSpec, build_head, head_accepts, pooled_features
from nas.ops.modules.structure import BranchingModule, RoutingModule, SequentialModule
from nas.ops.registry import Shape, get_op


class Network(nn.Module):
    """A backbone built from an architecture, followed by its task head (if any)."""

    def __init__(self, backbone: nn.Module, head: nn.Module, arch_text: str):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.arch_text = arch_text

    def forward(self, x):
        return self.head(self.backbone(x))


def build_model(arch: Architecture, space, input_shape: Shape,
                head: HeadSpec | None = None) -> Network:
    """Build ``arch`` for inputs ``(B, *input_shape)`` with ``head`` on top.

    Args:
        arch: an architecture of ``space``.
        space: the :class:`nas.space.Space` it belongs to.
        input_shape: the per-sample input shape (no batch axis).
        head: the task's head; ``None`` returns the bare backbone output.

    Raises:
        ArchitectureError: the architecture does not type-check for ``input_shape`` or
            its output does not fit the head.
    """
    typed = space.check(arch, tuple(input_shape))
    by_path = {info.path: info for info in typed.records}
    backbone = _build(arch.root, (), by_path)
    if head is None:
        return Network(backbone, nn.Identity(), str(arch))
    if not head_accepts(head, typed.output_shape):
        raise ArchitectureError(f"the {head.kind} head cannot use backbone output "
                                f"{typed.output_shape} (architecture {arch.id})")
    return Network(backbone, build_head(head, typed.output_shape), str(arch))


def _build(node, path: tuple[int, ...], by_path: dict[tuple[int, ...], NodeInfo]) -> nn.Module:
    info = by_path[path]
    spec = get_op(node.op)
    kids = [_build(c, path + (i,), by_path) for i, c in enumerate(node.subnodes)]
    if spec.kind == "sequential":
        return SequentialModule(*kids)
    if spec.kind == "branching":
        return BranchingModule(kids[0], kids[1:-1], kids[-1])
    if spec.kind == "routing":
        return RoutingModule(*kids)
    return spec.build(info.x, node.args, info.ctx, info.out)


class PoolHead(nn.Module):
    """Mean over spatial / sequence axes, then a linear map to the outputs."""

    def __init__(self, out: Shape, n_outputs: int):
        super().__init__()
        self.pool_dims = {3: (2, 3), 2: (1,), 1: ()}[len(out)]
        self.fc = nn.Linear(pooled_features(out), n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool_dims:
            x = x.mean(dim=self.pool_dims)
        return self.fc(x)

