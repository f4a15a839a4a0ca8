"""The task registry: names to builders, joined with their facts from ``bench.tasks.catalog``.

Names are fixed (``digits``), families with a size in the name (``sort-5``, ``tsp-8``),
or a path to the user's own ``.csv`` / ``.npz`` file. Built tasks are cached per
process (same name, seed and options -> the same :class:`Task` object, to be treated as
read-only), so workers that evaluate many architectures generate data once.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.tasks import catalog, classic, functions, permutation, pointer, tsp, user
from bench.tasks.base import Task
from bench.tasks.catalog import TaskInfo, task_names
from nas.errors import TaskError
from nas.registry import Registry


@dataclass(frozen=True)
class _Family:
    """Tasks named ``<prefix>-N``: a builder of N and the info of one N."""

    pattern: str
    build: Callable[..., Task]
    info: Callable[[int], TaskInfo]
    examples: tuple[int, ...]


#: the builder of each fixed task; its facts come from ``bench.tasks.catalog``
_BUILDERS: dict[str, Callable[..., Task]] = {
    "digits": classic.digits,
    "mnist1d": classic.mnist1d,
    "mnist5k": classic.mnist5k,
    "wine": classic.wine,
    "breast-cancer": classic.breast_cancer,
    **{name: partial(functions.function_fit, name) for name in catalog.FITS},
}
#: the builder of each family's member N
_FAMILY_BUILDERS: dict[str, Callable[..., Task]] = {
    "sort": pointer.sort_task,
    "convex-hull": pointer.convex_hull_task,
    "tsp": tsp.tsp_task,
    "permutation": permutation.permutation_task,
}

#: fixed tasks by name: (builder, info)
TASKS: Registry[tuple[Callable[..., Task], TaskInfo]] = Registry("task", error=TaskError)
for _name, _info in catalog.FIXED.items():
    TASKS.register(_name, (_BUILDERS[_name], _info))

#: task families by prefix (``sort`` for ``sort-5``...)
TASK_FAMILIES: Registry[_Family] = Registry("task family", error=TaskError)
for _prefix, _facts in catalog.FAMILIES.items():
    TASK_FAMILIES.register(_prefix, _Family(_facts.pattern, _FAMILY_BUILDERS[_prefix],
                                            _facts.info, _facts.examples))

_USER_SUFFIXES = {".csv": user.csv_task, ".npz": user.npz_task}
_CACHE: dict[tuple, Task] = {}
_CACHE_LIMIT = 8


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
    member = catalog.family_member(name)
    if member is not None:
        return TASK_FAMILIES.get(member[0]).build, (member[1],)
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
