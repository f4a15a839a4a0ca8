"""`run_search` end to end with real training, one test per task kind, plus resume and
failures that must not stop the search."""

from __future__ import annotations

import json

from search_checks import check_run, open_run

from bench.leaderboard import load_leaderboard
from nas.search import SearchConfig, run_search

#: short training; proposals from the strategy alone unless a test turns references on
TINY = {"epochs": 1, "tune_trials": 1, "trial_seconds": 30, "seed_references": False}


def test_digits_classification_end_to_end(workdir):
    summary = run_search(SearchConfig(grammar="einspace", task="digits", budget=3,
                                      strategy="random", **TINY))
    run = workdir / "runs" / "einspace-digits"
    history = check_run(run, 3)
    assert summary.completed + summary.failed == 3 and summary.study == "einspace-digits"
    # the best is final selection's winner (on by default), else the best by validation
    final = summary.final
    winner = final and next((f for f in final["finalists"]
                             if f["trial_number"] == final["winner"]), None)
    assert summary.best["arch_id"] == (winner or {}).get("arch_id", history.best().arch_id)
    assert (workdir / summary.best["onnx_path"]).is_file()
    meta = json.loads((run / "run.json").read_text())
    assert meta["study"] == "einspace-digits" and meta["storage"] == "study.journal"
    board = load_leaderboard(run=run)  # the leaderboard reads the run as it is
    # the board ranks by validation; on a tie, fewer parameters first (docs/leaderboard.md)
    top = board.rows[board.rows["rank"] == 1]
    assert top["val_score"].iloc[0] == history.best().score
    assert history.best().arch_id in set(top["arch_id"])
    assert summary.best["arch_id"] in set(board.rows["arch_id"])


def test_resume_continues_without_repeating_or_changing_trials(workdir):
    config = SearchConfig(grammar="ffn", task="wine", budget=2, **TINY)
    run_search(config)
    run = workdir / "runs" / "ffn-wine"
    before = {r.number: r for r in check_run(run, 2).completed}
    run_search(config)  # same budget: nothing to do
    assert len(check_run(run, 2).records) == 2
    run_search(SearchConfig(grammar="ffn", task="wine", budget=4, **TINY))
    after = check_run(run, 4)
    for number, record in before.items():
        assert after.records[number] == record  # finished trials never change


def test_evolution_with_references_evaluates_them_first(workdir):
    config = SearchConfig(grammar="einspace", task="digits", budget=3, strategy="evolution",
                          out="runs/refs", **{**TINY, "seed_references": True})
    run_search(config)
    history = check_run(workdir / "runs" / "refs", 3)
    origins = [r.user_attrs["origin"] for r in history.records]
    assert origins[:2] == ["reference:cnn", "reference:resnet-block"]


def test_training_failures_fail_their_trials_and_the_search_goes_on(workdir):
    config = SearchConfig(grammar="ffn", task="digits", budget=2, epochs=50, tune_trials=1,
                          trial_seconds=0.001, seed_references=False)
    summary = run_search(config)
    history = check_run(workdir / "runs" / "ffn-digits", 2)
    assert summary.failed == 2 and summary.best is None
    assert all("timeout" in r.fail_reason for r in history.failed)


def test_a_store_failure_is_recorded_and_the_evaluation_kept(workdir):
    store = workdir / "runs" / "ffn-wine" / "bench"
    store.mkdir(parents=True)
    (store / "STORE.json").write_text('{"format": "onnx-bench", "version": 1}')
    (store / "ffn").write_text("a file where the grammar's folder should be")
    summary = run_search(SearchConfig(grammar="ffn", task="wine", budget=1, **TINY))
    record = open_run(workdir / "runs" / "ffn-wine").history().records[0]
    assert summary.completed == 1 and record.state == "COMPLETE"
    assert record.user_attrs["store_error"] and "onnx_path" not in record.user_attrs


def test_regression_with_the_kan_grammar(workdir):
    run_search(SearchConfig(grammar="kan", task="kan-expsin", budget=2, **TINY))
    history = check_run(workdir / "runs" / "kan-kan-expsin", 2)
    assert all(r.user_attrs["metric"] == "rmse" for r in history.completed)
    assert not open_run(workdir / "runs" / "kan-kan-expsin").maximize


def test_pointer_sorting_with_the_ptrnet_grammar(workdir):
    options = {"n_train": 300, "n_val": 100, "n_test": 100}
    run_search(SearchConfig(grammar="ptrnet", task="sort-5", task_options=options, budget=2,
                            **TINY))
    history = check_run(workdir / "runs" / "ptrnet-sort-5", 2)
    assert {r.user_attrs["metric"] for r in history.completed} <= {"sequence_accuracy"}


def test_user_csv_with_a_target_column(workdir):
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    frame.to_csv(workdir / "iris.csv", index=False)
    run_search(SearchConfig(grammar="ffn", task="iris.csv", target="species", budget=2,
                            **TINY))
    history = check_run(workdir / "runs" / "ffn-iris", 2)
    assert {r.user_attrs["task"] for r in history.completed} == {"iris.csv"}
