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

from nas.builder import build_model
from nas.errors import NasError
from nas.export import export_onnx
from nas.heads import HeadSpec
from nas.space import load_space

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
    """``n`` seeded einspace samples with a 10-class head."""
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


def _time_net(net: nn.Module, shape, repeats: dict[str, int]) -> dict[str, tuple]:
    """exporter -> (median ms, exporter used) or (None, error) for one architecture.

    Exporters take turns within each repeat, so load drifts on a shared machine hit
    them alike.
    """
    times: dict[str, list[float]] = {e: [] for e in repeats}
    used: dict[str, str] = dict.fromkeys(repeats, "")
    for r in range(max(repeats.values())):
        for exporter, n in repeats.items():
            if r >= n or used[exporter].startswith("error"):
                continue
            start = time.perf_counter()
            try:
                used[exporter] = export_onnx(net, shape, exporter=exporter).exporter
            except NasError as exc:
                used[exporter] = f"error: {str(exc)[:80]}"
                continue
            times[exporter].append((time.perf_counter() - start) * 1000.0)
    return {e: ((statistics.median(times[e]), used[e]) if not used[e].startswith("error")
                else (None, used[e])) for e in repeats}


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
        per_net = {name: _time_net(net, shape, repeats) for name, net in _nets(shape, n_samples)}
        by_exporter = {e: {name: r[e] for name, r in per_net.items()} for e in repeats}
        dyn = [ms for ms, _ in by_exporter["dynamo"].values() if ms is not None]
        for exporter in ("dynamo", "torchscript", "auto"):
            base = statistics.median(dyn) if exporter == "auto" and dyn else None
            rows.append(_group_row(size, exporter, by_exporter[exporter], base))
    return rows
