"""`nas search` and `nas status` from the command line: summaries, status, one-line errors."""

from __future__ import annotations

import json
import sqlite3

import pytest
from search_checks import check_run

from nas.cli import run_app

TINY = ["--epochs", "1", "--tune-trials", "1"]


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_search_prints_progress_and_the_top_architectures(workdir, capsys):
    assert run_app(["search", "--grammar", "ffn", "--task", "wine", "--budget", "3",
                    *TINY]) == 0
    out = capsys.readouterr().out
    assert "[3/3] trial 2" in out and "best" in out and "eta" in out  # plain progress lines
    assert "top 3 by validation accuracy" in out
    assert "[random]" in out and "origin" in out  # where each architecture came from
    assert "runs/ffn-wine/bench/ffn/wine/" in out and ".onnx" in out
    check_run(workdir / "runs" / "ffn-wine", 3)


def test_json_summary_and_status(workdir, capsys):
    args = ["search", "-g", "ffn", "-t", "wine", "-n", "2", "--study", "w", "--json", *TINY]
    assert run_app(args) == 0
    captured = capsys.readouterr()
    summary = last_json(captured.out)
    assert summary["study"] == "w" and summary["trials_completed"] + summary[
        "trials_failed"] == 2
    assert summary["best_arch_id"] and summary["best_val_score"] is not None
    assert summary["store"] == "runs/w/bench" and "[2/2]" in captured.err
    assert run_app(["status", "--run", "runs/w", "--json"]) == 0
    status = last_json(capsys.readouterr().out)
    assert status["budget"] == 2 and status["completed"] + status["failed"] == 2
    assert status["stale"] == [] and len(status["workers"]) == 1
    assert status["best"]["arch_id"] == summary["best_arch_id"]
    assert run_app(["status", "--storage", "runs/w/study.journal"]) == 0
    assert "2/2 evaluated (2 completed, 0 failed)" in capsys.readouterr().out
    # resumed with a smaller budget: it evaluates nothing, and no count reads "2/1"
    assert run_app([*args[:5], "-n", "1", *args[7:]]) == 0
    captured = capsys.readouterr()
    assert "resuming: 2 evaluations done (budget 1 reached)" in captured.err
    resumed = last_json(captured.out)
    assert resumed["budget"] == 1 and resumed["trials_completed"] + resumed["trials_failed"] == 2
    assert run_app(["status", "--run", "runs/w"]) == 0
    shown = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "w in runs/w/study.journal: 2 evaluated (budget 1 reached; 2 completed" in shown
    assert "2/1" not in shown


def test_a_csv_task_names_its_study_after_the_file(workdir, capsys):
    rows = ["a,b,label"] + [f"{i % 7},{i % 5},{'yes' if i % 3 else 'no'}" for i in range(60)]
    (workdir / "data.csv").write_text("\n".join(rows) + "\n")
    assert run_app(["search", "-g", "ffn", "--task", "data.csv", "--target", "label", "-n",
                    "1", "--json", *TINY]) == 0
    assert last_json(capsys.readouterr().out)["study"] == "ffn-data"


def bad_csv(workdir, text: str) -> str:
    (workdir / "bad.csv").write_text(text)
    return "bad.csv"


@pytest.mark.parametrize("args, message", [
    (["--task", "digitz"], "unknown task 'digitz'"),
    (["--grammar", "nope"], "nope"),
    (["--task", "CSV_NO_TARGET", "--target", "label"], "column 'label' is not in"),
    (["--task", "CSV_NAN", "--target", "y"], "missing"),
    (["--storage", "foo://db"], "unknown scheme 'foo'"),
    (["--storage", "postgresql://nas:pw@127.0.0.1:1/nas"], "cannot connect to postgresql"),
    (["--budget", "0"], "--budget must be at least 1"),
    (["--strategy", "annealing"], "--strategy 'annealing' is not one of"),
    (["--device", "cuda"], "CUDA"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(workdir, capsys, monkeypatch, args, message):
    monkeypatch.setenv("NAS_STORAGE_RETRIES", "0")
    rows = "\n".join(f"{i},{i * 2}" for i in range(30))
    csvs = {"CSV_NO_TARGET": bad_csv(workdir, "x,y\n" + rows),
            "CSV_NAN": bad_csv(workdir, "x,y\n1,\n" + rows)}
    args = [csvs.get(a, a) for a in args]
    if args[0] == "--device":
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA is present here")
    assert run_app(["search", "-g", "ffn", "-t", "wine", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and message in err
    assert "pw@" not in err
    assert not (workdir / "runs").exists()  # bad input leaves nothing behind


def test_status_errors_are_one_line(workdir, capsys):
    assert run_app(["status", "--run", "runs/none"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run_app(["status"]) == 2
    assert "no runs directory" in capsys.readouterr().err


def not_journals(workdir) -> dict:
    """Files that are not journals, each as Optuna would read it as one: an empty study."""
    sqlite3.connect(workdir / "db.journal").execute("create table t(x)").connection.commit()
    files = {"db.journal": "is a SQLite database: pass sqlite:///db.journal",
             "noise.bin": "is not an Optuna journal", "notes.txt": "is not an Optuna journal"}
    (workdir / "noise.bin").write_bytes(bytes(b for b in range(256) if b != 10) * 8)
    (workdir / "notes.txt").write_text("my notes\n")
    return files


@pytest.mark.parametrize("command", [["search", "-g", "ffn", "-t", "wine", "-n", "1"],
                                     ["status", "--study", "x"]])
def test_a_file_that_is_not_a_journal_is_refused_as_storage(workdir, capsys, command):
    for name, message in not_journals(workdir).items():
        before = (workdir / name).read_bytes()
        assert run_app([*command, "--storage", name]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: storage '{name}' "), err
        assert len(err.splitlines()) == 1 and message in err
        assert (workdir / name).read_bytes() == before  # nothing appended to it
    assert not (workdir / "runs").exists()


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("args, target", [
    (["grammars"], "nas.space.list_grammars"),            # a top-level command
    (["bench", "ls", "--store", "store"], "nas.cli.bench._open"),  # a command of a group
    (["status", "--storage", "x.journal", "--study", "x"], "nas.search.study.SearchStudy.open"),
])
def test_ctrl_c_in_any_command_prints_one_line_and_exits_130(workdir, capsys, monkeypatch,
                                                             args, target):
    monkeypatch.setattr(target, interrupt)
    assert run_app(args) == 130
    captured = capsys.readouterr()
    assert captured.err.strip() == "interrupted: results written so far are kept"
