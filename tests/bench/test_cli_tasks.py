"""`nas tasks`: the table and the JSON listing."""

import json

from typer.testing import CliRunner

from bench.tasks import list_tasks
from nas.cli import app

runner = CliRunner()


def test_tasks_json_lists_every_task():
    result = runner.invoke(app, ["tasks", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["name"] for r in rows] == [t.name for t in list_tasks()]
    digits = rows[0]
    assert digits == {**digits, "name": "digits", "kind": "classification",
                      "input_shape": [1, 8, 8], "metric": "accuracy", "train": 1168}


def test_tasks_table_shows_names_and_metrics():
    result = runner.invoke(app, ["tasks"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for text in ("digits", "mnist1d", "tsp-10", "tour_ratio", "(40, 1)"):
        assert text in result.output
