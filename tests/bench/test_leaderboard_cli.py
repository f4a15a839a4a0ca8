"""`nas leaderboard`: the run-dir default, formats and files, comparisons, one-line errors."""

from __future__ import annotations

import io
import json

import optuna
import pandas as pd
import pytest
from leaderboard_stores import write_store

from nas.cli import run_app
from nas.search.perf.synthetic_studies import synthetic_trials, write_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_run(root, name, n=20, seed=0, strategy="random"):
    run = root / "runs" / name
    run.mkdir(parents=True)
    trials = synthetic_trials(n, seed=seed, task="digits", strategy=strategy, fail_every=6)
    study = write_study(run / "study.journal", trials, name)
    write_store(run / "bench", study.trials, study=name)
    return run


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_no_arguments_ranks_the_latest_run(workdir, capsys):
    make_run(workdir, "digits-rs")
    assert run_app(["leaderboard", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "Leaderboard: digits-rs" in out and "showing 3 of" in out


def test_study_name_finds_its_run_directory(workdir, capsys):
    make_run(workdir, "a", seed=1)
    make_run(workdir, "b", seed=2)
    assert run_app(["leaderboard", "--study", "a", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["label"] == "a" and doc["reproducibility"]["study"].startswith("a in ")


@pytest.mark.parametrize("suffix, check", [
    (".csv", lambda text: len(pd.read_csv(io.StringIO(text))) == 5),
    (".json", lambda text: len(json.loads(text)["rows"]) == 5),
    (".md", lambda text: text.startswith("# Leaderboard")),
    (".html", lambda text: text.startswith("<!DOCTYPE html>") and "<svg" in text),
])
def test_output_file_format_follows_its_suffix(workdir, capsys, suffix, check):
    run = make_run(workdir, "r")
    out = workdir / "reports" / f"board{suffix}"
    assert run_app(["leaderboard", "--run", str(run), "--top", "5", "-o", str(out)]) == 0
    assert check(out.read_text())
    assert f"wrote {out}" in capsys.readouterr().err


def test_storage_and_store_options(workdir, capsys):
    run = make_run(workdir, "r")
    argv = ["leaderboard", "--storage", str(run / "study.journal"), "--store",
            str(run / "bench"), "--format", "csv", "--grammar", "kan"]
    assert run_app(argv) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(frame["grammar"]) == {"kan"} and frame["latency_ms"].notna().all()


def test_compare_runs(workdir, capsys):
    runs = [str(make_run(workdir, name, seed=i, strategy=s))
            for i, (name, s) in enumerate([("rs", "random"), ("re", "evolution")])]
    assert run_app(["leaderboard", "--compare", *runs, "--format", "csv"]) == 0
    summary = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert summary["run"].tolist() == ["rs", "re"]
    assert summary["strategy"].tolist() == ["random", "evolution"]


@pytest.mark.parametrize("argv, message", [
    (["leaderboard"], "no runs directory 'runs'"),
    (["leaderboard", "--run", "missing"], "run directory 'missing' does not exist"),
    (["leaderboard", "--store", "missing"], "store 'missing' does not exist"),
    (["leaderboard", "--compare", "runs/x"], "--compare needs two or more"),
    (["leaderboard", "a", "b"], "add --compare"),
    (["leaderboard", "--format", "pdf"], "unknown format 'pdf'"),
])
def test_errors_are_one_line(workdir, capsys, argv, message):
    assert run_app(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_failed_only_study_is_one_line(workdir, capsys):
    run = workdir / "runs" / "bad"
    run.mkdir(parents=True)
    write_study(run / "study.journal", synthetic_trials(3, fail_every=1), "bad")
    assert run_app(["leaderboard"]) == 2
    err = capsys.readouterr().err
    assert "none completed" in err and err.count("\n") == 1
