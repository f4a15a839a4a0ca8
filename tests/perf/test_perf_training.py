"""The training perf suite runs and returns well-formed rows (figures are not asserted:
they depend on the machine's load)."""

import pytest
import torch

from bench.tasks import get_task
from nas.search.perf import get_suite
from nas.search.perf.training import bare_loop, epoch_overhead, mlp, worker_throughput

torch.set_num_threads(1)


def test_suite_is_registered():
    assert callable(get_suite("training"))


def test_bare_loop_learns_and_overhead_row():
    task = get_task("digits")
    torch.manual_seed(0)
    assert bare_loop(mlp(), task, 3, 64, 1e-3, 1e-4) > 0.85
    row = epoch_overhead("cnn-16-32", task, epochs=1, repeats=1)
    assert row["unit"] == "x" and row["target"] == 1.10 and row["value"] > 0


@pytest.mark.slow
def test_worker_throughput_rows():
    rows = worker_throughput(n_models=2, epochs=1, repeats=1)
    assert [r["unit"] for r in rows] == ["evals/s", "evals/s", "x"]
    assert all(r["value"] > 0 for r in rows)
