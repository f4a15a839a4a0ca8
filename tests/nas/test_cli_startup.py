"""Commands that build no model start without torch (issue 16).

Each command runs in a fresh interpreter through a wrapper that calls the CLI in-process
and then writes the names of every imported module, so the test sees exactly what the
command imported (``python -X importtime -m nas grammars`` shows the same by hand).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: runs ``nas <argv[2:]>`` in-process, then writes sorted(sys.modules) to argv[1]
WRAPPER = """
import json, sys
from nas.cli import run_app
code = run_app(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def modules_of(tmp_path, *args: str) -> list[str]:
    """Every module a CLI command imported; asserts that it succeeded."""
    out = tmp_path / "modules.json"
    proc = subprocess.run([sys.executable, "-c", WRAPPER, str(out), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and out.exists(), proc.stderr
    result = json.loads(out.read_text())
    assert result["code"] == 0, proc.stderr
    return result["modules"]


def imported_by(tmp_path, *args: str) -> set[str]:
    """Top-level packages a CLI command imported; asserts that it succeeded."""
    return {name.split(".")[0] for name in modules_of(tmp_path, *args)}


@pytest.fixture(scope="module")
def study_and_store(tmp_path_factory):
    """A journal study with one finished mnist1d trial (a task with published figures),
    and a store with one foreign ONNX file: enough for ``status``, ``leaderboard`` and
    ``bench`` to do real work."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    from nas.search.study import SearchStudy

    root = tmp_path_factory.mktemp("startup")
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, np.float32))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              root / "a.onnx")
    (root / "scores.csv").write_text(f"path,score,task\n{root / 'a.onnx'},0.5,digits\n")
    study = SearchStudy.open(str(root / "study.journal"), "st", direction="maximize")
    trial_id, _ = study.create_trial()
    study.set_user_attrs(trial_id, {"arch": "linear(16)", "arch_id": "abcdefabcdef",
                                    "worker": "h:1", "val_score": 0.4, "task": "mnist1d",
                                    "metric": "accuracy", "grammar": "ffn"})
    study.finish(trial_id, "COMPLETE", 0.4)
    return root


COMMANDS = {
    "grammars": ["grammars"],
    "grammars --ops": ["grammars", "--ops", "--json"],
    "sample": ["sample", "-n", "20", "--input-shape", "3x32x32"],
    "sample --classes": ["sample", "-n", "3", "-g", "ffn", "-s", "13", "--classes", "3"],
    "tasks": ["tasks", "--json"],
    "validate": ["validate", "sequential(flatten, sequential(linear(16), relu))", "-g", "ffn",
                 "-s", "13"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_space_commands_do_not_import_torch(tmp_path, name):
    assert "torch" not in imported_by(tmp_path, *COMMANDS[name])


def test_status_and_bench_do_not_import_torch(tmp_path, study_and_store):
    root = study_and_store
    journal, store = str(root / "study.journal"), str(tmp_path / "store")
    other = str(tmp_path / "other")
    for args in (["status", "--storage", journal, "--study", "st"],
                 ["bench", "import", str(root / "scores.csv"), "--store", store],
                 ["bench", "import", str(root / "scores.csv"), "--store", other],
                 ["bench", "stats", "--store", store],
                 ["bench", "ls", "--store", store],
                 ["bench", "merge", other, "--store", store],
                 ["bench", "rebuild", "--store", store]):
        assert "torch" not in imported_by(tmp_path, *args), args
    (onnx_file,) = (tmp_path / "store").rglob("*.onnx")  # the imported record, by its id
    assert "torch" not in imported_by(tmp_path, "bench", "show", onnx_file.stem,
                                      "--store", store)


def test_leaderboard_does_not_import_torch(tmp_path, study_and_store):
    """The leaderboard of an mnist1d study, with the task's published figures beside it."""
    journal = str(study_and_store / "study.journal")
    out = tmp_path / "board.json"
    assert "torch" not in imported_by(tmp_path, "leaderboard", "--storage", journal,
                                      "--study", "st", "-o", str(out))
    board = json.loads(out.read_text())
    assert "linear(16)" in json.dumps(board)
    assert "logistic regression" in json.dumps(board)  # the catalog's published figures


def test_a_command_imports_only_its_own_area(tmp_path):
    """`nas sample` leaves the search's and the store's CLI modules unimported."""
    modules = set(modules_of(tmp_path, "sample", "-n", "2", "-g", "ffn", "-s", "13"))
    assert "nas.cli.space" in modules
    assert not modules & {"nas.cli.search", "nas.cli.bench", "nas.cli.perf",
                          "nas.search.config"}


def test_an_unknown_command_loads_every_area_and_suggests_names(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nas", "sampel"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "sample" in proc.stderr  # click's "Did you mean" over the whole command list


def test_the_area_map_names_every_registered_command_exactly():
    import typer.main

    from nas.cli import app  # every area loaded
    from nas.cli.areas import AREAS, COMMANDS

    registered = set(typer.main.get_command(app).commands)
    assert registered == set(COMMANDS)
    assert set(COMMANDS.values()) == set(AREAS)
