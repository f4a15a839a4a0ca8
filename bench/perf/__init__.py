"""The project's benchmark command, ``nas perf <suite>``.

A suite is a function ``run(quick: bool) -> list[dict]`` registered with
:func:`perf_suite`; each dict is one row of the table it prints (figure, value, unit,
baseline, ...). Suites measure medians of several repeats and measure their baseline in
the same run. Suites live in ``bench/perf/<area>.py`` and are imported lazily so that
``nas perf`` starts fast.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

Suite = Callable[[bool], list[dict]]

#: suite name -> module that defines it (imported on demand)
SUITE_MODULES: dict[str, str] = {
    "sampling": "bench.perf.sampling",
    "export": "bench.perf.export",
    "store": "bench.perf.store",
    "training": "bench.perf.training",
    "search": "bench.perf.search",
    "mutation": "bench.perf.mutation",
    "predictor": "bench.perf.predictor",
    "leaderboard": "bench.perf.leaderboard",
    "storage": "bench.perf.storage",
}

_SUITES: dict[str, Suite] = {}


def perf_suite(name: str) -> Callable[[Suite], Suite]:
    """Register ``fn`` as the benchmark suite called ``name``."""

    def register(fn: Suite) -> Suite:
        _SUITES[name] = fn
        return fn

    return register


def available_suites() -> list[str]:
    """Names of suites whose module exists in this installation."""
    return [name for name, mod in SUITE_MODULES.items() if importlib.util.find_spec(mod)]


def get_suite(name: str) -> Suite:
    """Import and return the suite ``name``; raises KeyError with the known names."""
    if name not in SUITE_MODULES:
        raise KeyError(f"unknown perf suite {name!r}; known: {', '.join(available_suites())}")
    importlib.import_module(SUITE_MODULES[name])
    return _SUITES[name]


def load_note(what: str) -> str:
    """``what`` plus the machine's load average: other processes on the cores skew timings."""
    if hasattr(os, "getloadavg"):
        what += f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    return what


def scaling_rows(label: str, one: float, two: float, target: float, what: str) -> list[dict]:
    """Rows for a 1-worker vs 2-worker throughput figure (evaluations/s and their ratio)."""
    what = load_note(what)
    return [
        {"figure": f"{label}, 1 worker", "value": one, "unit": "evals/s", "detail": what},
        {"figure": f"{label}, 2 workers", "value": two, "unit": "evals/s", "detail": what},
        {"figure": f"{label}, 2 workers / 1 worker", "value": two / one, "unit": "x",
         "baseline": 1.0, "target": target, "detail": what},
    ]
