"""Tasks: data splits fixed by seed, the head each task owns, its loss and its metric.

    from bench.tasks import get_task, list_tasks
    task = get_task("digits", seed=0)          # or "mnist1d", "tsp-8", "data.csv", ...
    task.train.x.shape, task.input_shape, task.head, task.metric, task.direction

See ``docs/tasks.md`` for the list of tasks and the user CSV/NPZ formats.

What a task is (``list_tasks``, ``task_info``: kind, shape, metric, sizes, published
figures) comes from ``bench.tasks.catalog`` without torch; the data side (``get_task``,
``Task``, ``Split``...) is imported on first use, so that reading about tasks does not
import torch (issue 16).
"""

from importlib import import_module

from bench.tasks.catalog import Reference, TaskInfo, list_tasks, task_info, task_names

#: the data side, loaded on first access: name -> module that defines it
_TORCH_SIDE = {"Split": "bench.tasks.base", "Task": "bench.tasks.base",
               "clear_cache": "bench.tasks.registry", "data_identity": "bench.tasks.registry",
               "get_task": "bench.tasks.registry"}

__all__ = ["Reference", "Split", "Task", "TaskInfo", "clear_cache", "data_identity",
           "get_task", "list_tasks", "task_info", "task_names"]


def __getattr__(name: str):
    # torch: the data side builds tensors; load it only when a caller asks for it (issue 16)
    if name in _TORCH_SIDE:
        return getattr(import_module(_TORCH_SIDE[name]), name)
    raise AttributeError(f"module 'bench.tasks' has no attribute {name!r}")
