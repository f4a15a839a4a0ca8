"""Perf suite ``training``: the training loop's overhead and multi-process throughput.

(a) Seconds per epoch of :func:`bench.training.train_model` against a bare hand-written
    torch loop on the same model, data, optimizer and batch size (target ratio <= 1.10).
    Both sides do the same work per run: shuffled minibatch epochs, a validation pass per
    epoch, a test pass at the end; the time is the whole run divided by its epochs.
    Runs alternate between the two sides; the figure is the ratio of medians of process
    CPU time (robust to other jobs on shared cores), with wall times beside it.
(b) Evaluations per second of 2 worker processes against 1, each process pinned to its
    own core with ``torch.set_num_threads(1)`` and training the same fixed number of
    small models (target ratio >= 1.8).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from bench.tasks import get_task
from bench.training import Budget, HParams, train_model
from nas.search.perf import scaling_rows

EPOCH_TARGET = 1.10
WORKER_TARGET = 1.8


def mlp() -> nn.Module:
    """MLP 256-256 on the flattened 8x8 digits."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256),
                         nn.ReLU(), nn.Linear(256, 10))


def cnn() -> nn.Module:
    """A small CNN on 1x8x8 digits: two 3x3 convolutions, pooling, a linear head."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


MODELS = {"mlp-256-256": mlp, "cnn-16-32": cnn}


def bare_loop(model: nn.Module, task, epochs: int, batch_size: int, lr: float,
              weight_decay: float, seed: int = 0) -> float:
    """The hand-written baseline: same optimizer (AdamW, fused like the platform's, so
    the figure measures the loop and not the optimizer), batching and evaluation;
    returns the final validation accuracy."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    gen = torch.Generator().manual_seed(seed)
    x, y = task.train.x, task.train.y
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = (model(task.val.x).argmax(-1) == task.val.y).float().mean()
    with torch.no_grad():
        (model(task.test.x).argmax(-1) == task.test.y).float().mean()
    return float(val)


def _time_per_epoch(run, epochs: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per epoch of ``run()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return (time.process_time() - cpu) / epochs, (time.perf_counter() - wall) / epochs


def epoch_overhead(name: str, task, epochs: int, repeats: int) -> dict:
    """One figure of (a): median time per epoch of the platform loop over the bare loop.

    The ratio uses process CPU time: both sides run on one thread, so on an idle machine
    it equals the wall-time ratio, and on a shared machine (other jobs on the same
    cores) it is not inflated by time spent waiting for a core. Wall medians are in
    ``detail``.
    """
    hp = HParams(lr=1e-3, weight_decay=1e-4, batch_size=64)
    build = MODELS[name]

    def fresh() -> nn.Module:
        torch.manual_seed(0)
        return build()

    def platform() -> None:
        train_model(fresh(), task, hp, Budget(max_epochs=epochs))

    def bare() -> None:
        bare_loop(fresh(), task, epochs, hp.batch_size, hp.lr, hp.weight_decay)

    platform(), bare()  # warm-up: lazy imports, allocator, kernels
    times: dict = {platform: [], bare: []}
    for r in range(repeats):  # alternate the order so drift in machine load cancels
        for side in ((platform, bare) if r % 2 == 0 else (bare, platform)):
            times[side].append(_time_per_epoch(side, epochs))
    cpu = {side: statistics.median(t[0] for t in ts) * 1e3 for side, ts in times.items()}
    wall = {side: statistics.median(t[1] for t in ts) * 1e3 for side, ts in times.items()}
    return {"figure": f"epoch time ratio, {name} on digits (platform / bare torch loop)",
            "value": cpu[platform] / cpu[bare], "unit": "x", "baseline": 1.0,
            "target": EPOCH_TARGET,
            "detail": f"CPU {cpu[platform]:.1f} vs {cpu[bare]:.1f} ms/epoch, wall "
                      f"{wall[platform]:.1f} vs {wall[bare]:.1f} ms/epoch, median of {repeats}"}


# -- (b) worker throughput -----------------------------------------------------------

def _worker(core: int | None, commands, results) -> None:
    """A benchmark worker: one thread, pinned to ``core``; trains models on command."""
    torch.set_num_threads(1)
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})

    task = get_task("digits")
    train_model(mlp(), task, HParams(), Budget(max_epochs=1))  # warm-up
    results.put("ready")
    for n_models, epochs in iter(commands.get, None):
        started = time.monotonic()  # system-wide clock: comparable across processes
        for i in range(n_models):
            torch.manual_seed(i)
            train_model(mlp(), task, HParams(), Budget(max_epochs=epochs), seed=i)
        results.put((started, time.monotonic()))


def _cores() -> list[int | None]:
    if hasattr(os, "sched_getaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) >= 2:
            return cores[:2]
    return [None, None]


def worker_throughput(n_models: int, epochs: int, repeats: int) -> list[dict]:
    """Figure (b): evaluations/s of 1 and of 2 pinned single-thread worker processes."""
    ctx = mp.get_context("spawn")
    queues = [ctx.Queue() for _ in range(2)]
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(core, q, results), daemon=True)
             for core, q in zip(_cores(), queues, strict=True)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            results.get(timeout=300)
        rates = {1: [], 2: []}
        for _ in range(repeats):
            for n_workers in (1, 2):
                for q in queues[:n_workers]:
                    q.put((n_models, epochs))
                spans = [results.get(timeout=600) for _ in range(n_workers)]
                wall = max(end for _, end in spans) - min(start for start, _ in spans)
                rates[n_workers].append(n_workers * n_models / wall)
    finally:
        for q in queues:
            q.put(None)
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    what = f"{n_models} MLPs x {epochs} epochs on digits per worker, median of {repeats}"
    return scaling_rows("evaluations/s of worker processes", one, two, WORKER_TARGET, what)


def run(quick: bool) -> list[dict]:
    """Rows for ``nas perf training`` (``quick``: fewer repeats and epochs, < 1 minute)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        task = get_task("digits")
        epochs, repeats = (3, 7) if quick else (5, 11)
        rows = [epoch_overhead(name, task, epochs, repeats) for name in MODELS]
        n_models, w_epochs, w_repeats = (8, 2, 1) if quick else (20, 3, 3)
        rows += worker_throughput(n_models, w_epochs, w_repeats)
    finally:
        torch.set_num_threads(threads)
    return rows
