"""A synthetic family of exported networks whose score is a known function of the design.

Used by the ``predictor`` benchmark and the predictor tests, where no trained store is needed:
MLPs and small CNNs (optionally residual) of varying depth, width and activation,
exported to ONNX with torch's exporter; :func:`known_score` gives each a score that the
predictor has to recover from the ONNX file alone.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

ACTS = ("relu", "tanh", "gelu")


@dataclass(frozen=True)
class NetSpec:
    """One network of the family."""

    kind: str        # "mlp" (input (16,)) or "cnn" (input (3, 16, 16))
    depth: int       # hidden layers / conv blocks
    width: int       # hidden units / channels
    act: str         # one of ACTS
    residual: bool   # skip connections around each block (cnn only)


def known_score(spec: NetSpec) -> float:
    """The family's ground truth: wider is better, deeper is worse, residual and GELU help."""
    return (math.log2(spec.width) - 0.4 * spec.depth + 0.6 * spec.residual
            + 0.3 * ACTS.index(spec.act))


def sample_specs(n: int, seed: int = 0, kinds: tuple[str, ...] = ("mlp", "cnn")) -> list[NetSpec]:
    """``n`` distinct random specs (fewer if the family is exhausted)."""
    rng = np.random.default_rng(seed)
    specs: list[NetSpec] = []
    seen: set[NetSpec] = set()
    for _ in range(n * 50):
        kind = kinds[int(rng.integers(len(kinds)))]
        spec = NetSpec(kind, int(rng.integers(1, 7)), int(rng.choice([4, 8, 12, 16, 24, 32, 48])),
                       ACTS[int(rng.integers(3))], kind == "cnn" and bool(rng.integers(2)))
        if spec not in seen:
            seen.add(spec)
            specs.append(spec)
        if len(specs) == n:
            break
    return specs


def build(spec: NetSpec):
    """The torch module of ``spec`` and an example input batch of one."""
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[spec.act]
    if spec.kind == "mlp":
        layers, w = [], 16
        for _ in range(spec.depth):
            layers += [nn.Linear(w, spec.width), act()]
            w = spec.width
        return nn.Sequential(*layers, nn.Linear(w, 10)), torch.randn(1, 16)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(spec.width, spec.width, 3, padding=1),
                                      nn.BatchNorm2d(spec.width), act())

        def forward(self, x):
            return x + self.body(x) if spec.residual else self.body(x)

    net = nn.Sequential(nn.Conv2d(3, spec.width, 3, padding=1), act(),
                        *[Block() for _ in range(spec.depth)],
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(spec.width, 10))
    return net, torch.randn(1, 3, 16, 16)


def export(spec: NetSpec) -> onnx.ModelProto:
    """``spec`` exported to ONNX (opset 17, torch's TorchScript exporter), eval mode."""
    net, x = build(spec)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but fast
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net.eval(), (x,), buf, dynamo=False, opset_version=17)
    return onnx.load_from_string(buf.getvalue())


def make_family(directory: str | Path, n: int, seed: int = 0,
                kinds: tuple[str, ...] = ("mlp", "cnn")) -> tuple[list[Path], np.ndarray]:
    """Export ``n`` networks into ``directory``; returns their paths and known scores."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths, scores = [], []
    for spec in sample_specs(n, seed, kinds):
        tag = "res" if spec.residual else "plain"
        path = directory / f"{spec.kind}-d{spec.depth}-w{spec.width}-{spec.act}-{tag}.onnx"
        if not path.exists():
            onnx.save(export(spec), str(path))
        paths.append(path)
        scores.append(known_score(spec))
    return paths, np.asarray(scores)
