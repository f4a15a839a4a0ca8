"""The task contract: data splits, the head the task owns, its loss and its metric.

A task fixes its train/validation/test split by seed. Heads belong to the task, outside
the grammar: the backbone that an architecture builds maps ``(B, *input_shape)`` to some
feature shape, and :class:`~nas.heads.HeadSpec` tells the builder what to put on top.

Output and target conventions (``B`` = batch):

* classification: outputs ``(B, n_classes)`` logits, targets ``(B,)`` int64.
* regression: outputs ``(B, n_targets)``, targets ``(B, n_targets)`` float32.
* pointer: outputs ``(B, N, N)`` scores, row ``i`` = decode step ``i`` over the ``N``
  input items; targets ``(B, N)`` int64, the item index to point at at each step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from bench.tasks.catalog import Reference
from nas.heads import HeadKind, HeadSpec


@dataclass(frozen=True)
class Split:
    """One split of a task's data, held in memory as tensors.

    ``extra`` carries what a metric needs beyond targets (e.g. city coordinates for TSP).
    """

    x: torch.Tensor
    y: torch.Tensor
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class Task:
    """A supervised task with fixed splits, a head, a loss and a metric.

    Subclasses override :meth:`score` for metrics other than accuracy / RMSE /
    sequence accuracy (e.g. tour-length ratio).
    """

    name: str
    description: str
    kind: HeadKind
    input_shape: tuple[int, ...]
    n_outputs: int
    metric: str
    higher_is_better: bool
    train: Split
    val: Split
    test: Split
    seed: int = 0
    references: tuple[Reference, ...] = ()
    #: a label-preserving minibatch transform the task vouches for (``bench.augment``)
    augmentation: str | None = None

    @property
    def head(self) -> HeadSpec:
        """The head the builder attaches to every backbone for this task."""
        return HeadSpec(self.kind, self.n_outputs)

    @property
    def direction(self) -> str:
        """Optuna direction for this task's metric."""
        return "maximize" if self.higher_is_better else "minimize"

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Training loss for a batch of head outputs."""
        if self.kind == "classification":
            return F.cross_entropy(outputs, targets)
        if self.kind == "regression":
            return F.mse_loss(outputs, targets)
        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))

    @torch.no_grad()
    def score(self, outputs: torch.Tensor, split: Split) -> float:
        """The task metric of ``outputs`` (head outputs for every row of ``split``)."""
        if self.kind == "classification":
            return float((outputs.argmax(-1) == split.y).float().mean())
        if self.kind == "regression":
            return float(torch.sqrt(F.mse_loss(outputs, split.y)))
        return float((outputs.argmax(-1) == split.y).all(-1).float().mean())

    def worst_score(self) -> float:
        """The score given to a failed trial when a number is needed (e.g. for sorting)."""
        return -math.inf if self.higher_is_better else math.inf
