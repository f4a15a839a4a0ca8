"""``nas tasks``: the built-in tasks with their kind, input shape, metric and split sizes."""

from __future__ import annotations

import typer

from nas.cli.root import app
from nas.json_text import dumps


@app.command("tasks")
def tasks(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per task."),
) -> None:
    """List the built-in tasks (families such as sort-N take any N; user .csv/.npz too)."""
    # numpy and the task facts (no torch: issue 16): only this command reads them
    from bench.tasks import list_tasks

    rows = list_tasks()
    if as_json:
        for info in rows:
            typer.echo(dumps(_as_dict(info)))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Built-in tasks (also: any sort-N / convex-hull-N / tsp-N / "
                  "permutation-N, or a path to a .csv or .npz file)")
    for column in ("name", "kind", "input", "metric", "train/val/test"):
        table.add_column(column, no_wrap=True)
    table.add_column("description", overflow="fold", min_width=20)
    for info in rows:
        goal = "max" if info.higher_is_better else "min"
        table.add_row(info.name, info.kind, _shape(info.input_shape),
                      f"{info.metric} ({goal})", "/".join(map(str, info.sizes)),
                      info.description)
    Console().print(table)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _as_dict(info) -> dict:
    return {"name": info.name, "kind": info.kind, "input_shape": list(info.input_shape),
            "metric": info.metric, "higher_is_better": info.higher_is_better,
            "train": info.sizes[0], "val": info.sizes[1], "test": info.sizes[2],
            "description": info.description}
