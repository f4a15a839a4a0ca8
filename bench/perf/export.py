"""Suite ``export``: export + checker + onnxruntime parity time per architecture.

For each exporter (TorchScript, dynamo, and the default ``auto`` path) and two input
sizes (digits 1x8x8, CIFAR-like 3x32x32), every architecture is exported several times;
its median is taken, and the row reports the median over architectures (with min / max).
Architectures: an MLP and a small CNN defined here, plus seeded einspace samples when
``nas.space`` is installed. One warm-up export per exporter is not timed (the first call
imports and compiles the exporter). Target: default path median <= 100 ms on digits size.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from bench.perf import perf_suite
from nas.errors import NasError
from nas.export import export_onnx

SIZES = {"digits 1x8x8": (1, 8, 8), "3x32x32": (3, 32, 32)}
TARGET_MS = 100.0


def _mlp(shape) -> nn.Module:
    c, h, w = shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 256), nn.ReLU(),
                         nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def _cnn(shape) -> nn.Module:
    c = shape[0]
    return nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.GELU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )


def _grammar_samples(shape, n: int) -> list[tuple[str, nn.Module]]:
    """``n`` seeded einspace samples with a 10-class head, or none if nas.space is absent."""
    try:
        from bench.tasks.base import HeadSpec
        from nas.builder import build_model
        from nas.space import load_space
    except ImportError:
        return []
    space, head = load_space("einspace"), HeadSpec("classification", 10)
    nets = []
    for seed in range(n):
        try:
            arch = space.sample(shape, seed=seed, head=head)
            torch.manual_seed(seed)
            nets.append((f"einspace#{seed}", build_model(arch, space, shape, head)))
        except NasError:
            continue
    return nets


def _nets(shape, n_samples: int) -> list[tuple[str, nn.Module]]:
    torch.manual_seed(0)
    return [("mlp", _mlp(shape)), ("cnn", _cnn(shape)), *_grammar_samples(shape, n_samples)]


def _time_one(net: nn.Module, shape, exporter: str, repeats: int):
    """(median ms over repeats, exporter actually used) or (None, error) if it cannot export."""
    times, used = [], exporter
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            used = export_onnx(net, shape, exporter=exporter).exporter
        except NasError as exc:
            return None, str(exc)[:80]
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), used


def _group_row(size: str, exporter: str, results: dict, baseline) -> dict:
    ok = {name: ms for name, (ms, _) in results.items() if ms is not None}
    fell_back = sum(used == "dynamo" for ms, used in results.values() if ms is not None)
    value = statistics.median(ok.values()) if ok else float("nan")
    label = "default (auto)" if exporter == "auto" else exporter
    targeted = exporter == "auto" and size.startswith("digits")
    nan = float("nan")
    row = {
        "figure": f"export+check+parity, {size}, {label}",
        "value": value, "unit": "ms/arch (median)",
        "baseline": baseline if baseline is not None else "",
        "target": f"<= {TARGET_MS:g} ms" if targeted else "",
        "archs": len(results), "failed": len(results) - len(ok),
        "min": min(ok.values(), default=nan), "max": max(ok.values(), default=nan),
    }
    if exporter == "auto":
        row["fell_back_to_dynamo"] = fell_back
    return row


@perf_suite("export")
def run(quick: bool) -> list[dict]:
    """Rows: per input size, median export+check+parity ms for dynamo, TorchScript and auto
    (baseline of the auto row: the dynamo median of the same architectures)."""
    torch.set_num_threads(1)
    repeats = {"torchscript": 3 if quick else 5, "dynamo": 1 if quick else 3}
    repeats["auto"] = repeats["torchscript"]
    n_samples = 3 if quick else 8
    warm = _mlp((1, 8, 8))
    for exporter in ("torchscript", "dynamo"):
        export_onnx(warm, (1, 8, 8), exporter=exporter)  # imports/compiles: not timed
    rows = []
    for size, shape in SIZES.items():
        nets = _nets(shape, n_samples)
        medians = {}
        for exporter in ("dynamo", "torchscript", "auto"):
            results = {name: _time_one(net, shape, exporter, repeats[exporter])
                       for name, net in nets}
            medians[exporter] = results
            base = None
            if exporter == "auto":
                dyn = [ms for ms, _ in medians["dynamo"].values() if ms is not None]
                base = statistics.median(dyn) if dyn else None
            rows.append(_group_row(size, exporter, results, base))
    return rows
