"""The project's benchmark command, ``nas perf <suite>``.

A suite is a function ``run(quick: bool) -> list[dict]`` in its own module
``nas/search/perf/<area>.py``, registered by name in :data:`SUITES`; each dict is one row of the
table it prints (figure, value, unit, baseline, ...). Suites measure medians of several
repeats and measure their baseline in the same run. A suite's module is imported only
when the suite runs, so that ``nas perf`` starts fast.

``nas.search.perf`` sits at the top of the layers with ``nas.search`` and ``nas.cli``: its
suites time every stage, searches included (docs/architecture.md).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from nas.registry import Registry

Suite = Callable[[bool], list[dict]]

#: suite name -> the module whose ``run`` it is (imported on demand)
SUITES: Registry[str] = Registry("perf suite", hint="see `nas perf --list`")
for _name in ("sampling", "export", "store", "training", "search", "search_quality",
              "search_targets", "mutation", "predictor", "leaderboard", "storage", "scale",
              "dedup"):
    SUITES.register(_name, f"nas.search.perf.{_name}")


def available_suites() -> list[str]:
    """Names of every suite, in the order ``nas perf`` runs them."""
    return list(SUITES.names())


def get_suite(name: str) -> Suite:
    """The suite ``name`` (its module imported now).

    Raises:
        UnknownNameError: ``name`` is not a suite; the message lists the suites.
    """
    return importlib.import_module(SUITES.get(name)).run


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
