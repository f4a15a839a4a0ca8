"""``nas perf sampling``: valid architectures per second, memory, and sample sizes.

Baseline (same run): validating each sample the way einspace does, by building the real
layers and running a forward pass, instead of the analytic shape typing used here.

``nas sample -n 2000`` as a user runs it (a fresh interpreter, CLI start-up included) is
timed too: its target is in wall time, and the same runs' CPU time says how much of the
wall time the machine's other jobs took.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from nas.builder import build_model
from nas.search.perf import load_note
from nas.space import load_space

SHAPES = ((1, 8, 8), (3, 32, 32))


def _rate(space, shape, n: int, seed: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        space.sample(shape, seed=seed + i)
    return n / (time.perf_counter() - started)


def _probe_rate(space, shape, n: int, seed: int) -> float:
    """einspace-style validation: allocate the real layers and run them once."""
    torch.set_num_threads(1)
    started = time.perf_counter()
    for i in range(n):
        arch = space.sample(shape, seed=seed + i)
        with torch.no_grad():
            build_model(arch, space, shape).eval()(torch.zeros(1, *shape))
    return n / (time.perf_counter() - started)


def _cli_rates(label: str, n: int) -> tuple[float, float]:
    """``nas sample -n N -s LABEL`` in a fresh interpreter, output discarded: samples per
    second of wall time and of CPU time (user + system), start-up included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nas", "sample", "-n", str(n), "-s", label],
                   stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return n / wall, n / cpu


def _cli_rows(repeats: int) -> list[dict]:
    rows = []
    for shape in SHAPES:
        label = "x".join(map(str, shape))
        wall, cpu = zip(*(_cli_rates(label, 2000) for _ in range(repeats)), strict=True)
        rows.append({"figure": f"nas sample -n 2000, einspace {label}, start-up included",
                     "value": statistics.median(wall), "unit": "samples/s (wall)",
                     "baseline": statistics.median(cpu),
                     "baseline_is": "the same runs in CPU time (samples/s)",
                     "target": ">= 500", "detail": load_note("fresh interpreter")})
    return rows


def _percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


_RSS_SCRIPT = """
import json, resource, sys
from nas.space import load_space
space = load_space("einspace")
shape = tuple(json.loads(sys.argv[1]))
nodes, params = [], []
for i in range(int(sys.argv[2])):
    arch = space.sample(shape, seed=i)
    typed = space.check(arch, shape)
    nodes.append(typed.nodes); params.append(typed.params)
# Linux's ru_maxrss keeps the forking parent's peak across exec (the perf process holds
# torch: ~300 MB); the child's own peak is VmHWM
try:
    with open("/proc/self/status") as f:
        rss_mb = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
except (OSError, StopIteration):
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rss_mb": rss_mb, "nodes": nodes, "params": params}))
"""


def _sample_many(shape, n: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, json.dumps(shape), str(n)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def run(quick: bool) -> list[dict]:
    space = load_space("einspace")
    repeats, n, probe_n = (3, 100, 20) if quick else (5, 500, 100)
    rows = []
    for shape in SHAPES:
        label = "x".join(map(str, shape))
        space.sample(shape, seed=10**6)  # warm the leaf cache as any long run would
        rates = [_rate(space, shape, n, seed=r * n) for r in range(repeats)]
        probes = [_probe_rate(space, shape, probe_n, seed=r * probe_n) for r in range(repeats)]
        rows.append({"figure": f"valid archs/s einspace p(C)=0.32, {label}",
                     "value": statistics.median(rates), "unit": "archs/s",
                     "baseline": statistics.median(probes),
                     "baseline_is": "same samples validated by building + forward (einspace way)",
                     "target": ">= 500"})
    rows += _cli_rows(repeats)
    total = 1000 if quick else 10_000
    for shape in SHAPES:
        label = "x".join(map(str, shape))
        found = _sample_many(shape, total)
        rows.append({"figure": f"peak RSS sampling {total} archs, {label}",
                     "value": found["rss_mb"], "unit": "MB", "target": "< 500"})
        for key in ("nodes", "params"):
            values = found[key]
            rows.append({"figure": f"{key} per sample, {label} (n={total})",
                         "value": statistics.median(values), "unit": key,
                         "p90": _percentile(values, 0.9), "max": max(values)})
    return rows
