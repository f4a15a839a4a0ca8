"""Tasks: data splits fixed by seed, the head each task owns, its loss and its metric.

    from bench.tasks import get_task, list_tasks
    task = get_task("digits", seed=0)          # or "mnist1d", "tsp-8", "data.csv", ...
    task.train.x.shape, task.input_shape, task.head, task.metric, task.direction

See ``docs/tasks.md`` for the list of tasks and the user CSV/NPZ formats.
"""

from bench.tasks.base import Reference, Split, Task
from bench.tasks.registry import (
    TaskInfo,
    clear_cache,
    data_identity,
    get_task,
    list_tasks,
    task_names,
)

__all__ = ["Reference", "Split", "Task", "TaskInfo", "clear_cache", "data_identity",
           "get_task", "list_tasks", "task_names"]
