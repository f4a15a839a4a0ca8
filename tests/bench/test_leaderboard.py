"""Leaderboard data: rows and order against the stored trials, Pareto fronts, sources, errors."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from leaderboard_stores import write_store

from bench.leaderboard import (
    COLUMNS,
    find_latest_run,
    leaderboard_frame,
    load_leaderboard,
    pareto_mask,
    published_figures,
)
from nas.errors import LeaderboardError
from nas.search.history import History, from_frozen
from nas.search.perf.synthetic_studies import store_index, synthetic_trials, write_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def direct_pareto(scores, costs, maximize=True) -> list[bool]:
    """O(n^2) reference: i is on the front unless some j is no worse in both and better in one."""
    flags = []
    for i, (si, ci) in enumerate(zip(scores, costs, strict=True)):
        if math.isnan(si) or math.isnan(ci):
            flags.append(False)
            continue
        dominated = False
        for j, (sj, cj) in enumerate(zip(scores, costs, strict=True)):
            if i == j or math.isnan(sj) or math.isnan(cj):
                continue
            no_worse = cj <= ci and (sj >= si if maximize else sj <= si)
            better = cj < ci or (sj > si if maximize else sj < si)
            dominated |= no_worse and better
        flags.append(not dominated)
    return flags


def read_trials(path, name):
    """The study's trials, read back with Optuna alone (the test's independent view)."""
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return optuna.load_study(study_name=name, storage=storage).trials


def make_run(root, name, n=40, seed=0, task="digits", strategy="random", fail_every=7,
             direction="maximize", metric="accuracy"):
    """runs/<name>/study.journal with ``n`` synthetic trials; returns the run directory."""
    run = root / name
    run.mkdir(parents=True)
    trials = synthetic_trials(n, seed=seed, task=task, strategy=strategy, metric=metric,
                              fail_every=fail_every)
    write_study(run / "study.journal", trials, name, direction,
                user_attrs={"budget": n, "seed": seed, "task": task})
    return run


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path / "runs", "digits-rs")


# ------------------------------------------------------------------ ranking


def test_rows_and_order_match_the_stored_trials(run):
    frame = leaderboard_frame(storage=run / "study.journal")
    trials = read_trials(run / "study.journal", "digits-rs")
    done = sorted((t for t in trials if t.state == optuna.trial.TrialState.COMPLETE),
                  key=lambda t: -t.value)
    assert list(frame.columns) == list(COLUMNS)
    assert list(frame["arch_id"]) == [t.user_attrs["arch_id"] for t in done]
    assert list(frame["rank"]) == list(range(1, len(done) + 1))
    np.testing.assert_allclose(frame["val_score"], [t.value for t in done])
    np.testing.assert_allclose(frame["test_score"], [t.user_attrs["test_score"] for t in done])
    assert list(frame["params"]) == [t.user_attrs["params"] for t in done]
    assert list(frame["trial_number"]) == [t.number for t in done]
    assert [json.loads(h) for h in frame["hparams"]] == [t.user_attrs["hparams"] for t in done]
    assert frame.attrs["higher_is_better"] is True
    assert frame.attrs["metric"] == "accuracy"


def test_lower_is_better_ranks_ascending(tmp_path):
    run = make_run(tmp_path, "fit", direction="minimize", metric="rmse", task="feynman")
    frame = leaderboard_frame(run=run)
    assert frame["val_score"].is_monotonic_increasing
    trials = read_trials(run / "study.journal", "fit")
    best = min(t.value for t in trials if t.value is not None)
    assert frame["val_score"].iloc[0] == best
    assert frame.attrs["higher_is_better"] is False


def test_equal_scores_are_ordered_by_validation_loss_as_the_search_orders_them(tmp_path):
    """The leaderboard's first row is the search's best (nas.search.history.fitness)."""
    trials = synthetic_trials(4, fail_every=0, task="digits")
    losses = [0.4, 0.1, None, 0.2]
    tied = [optuna.trial.create_trial(
        value=1.0, user_attrs={**t.user_attrs, **({} if loss is None else {"val_loss": loss})})
        for t, loss in zip(trials, losses, strict=True)]
    write_study(tmp_path / "s.journal", tied, "s")
    frame = leaderboard_frame(storage=tmp_path / "s.journal")
    expected = [tied[i].user_attrs["arch_id"] for i in (1, 3, 0, 2)]
    assert list(frame["arch_id"]) == expected and set(frame["rank"]) == {1}
    search_best = History.of([from_frozen(t) for t in read_trials(tmp_path / "s.journal",
                                                                     "s")]).best()
    assert search_best.arch_id == frame["arch_id"].iloc[0]


def test_a_repeated_architecture_keeps_its_best_evaluation(tmp_path):
    trials = synthetic_trials(6, fail_every=0, task="digits")
    twin = optuna.trial.create_trial(value=trials[0].value + 0.5,
                                     user_attrs={**trials[0].user_attrs, "seed": 99})
    write_study(tmp_path / "s.journal", [*trials, twin], "s")
    frame = leaderboard_frame(storage=tmp_path / "s.journal")
    assert len(frame) == 6
    row = frame[frame["arch_id"] == trials[0].user_attrs["arch_id"]].iloc[0]
    assert row["evaluations"] == 2 and row["seed"] == 99 and row["rank"] == 1


def test_failed_trials_are_counted_but_never_ranked(run):
    board = load_leaderboard(run=run)
    trials = read_trials(run / "study.journal", "digits-rs")
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert board.counts == {"finished": 40, "completed": 40 - len(failed),
                            "failed": len(failed), "pruned": 0}
    assert not set(board.rows["arch_id"]) & {t.user_attrs["arch_id"] for t in failed}
    assert len(board.history) == 40  # failures spent budget: they count as evaluations
    best = board.history["best_so_far"].dropna()
    assert best.is_monotonic_increasing and best.iloc[-1] == board.rows["val_score"].iloc[0]


def test_task_and_grammar_filters(run):
    frame = leaderboard_frame(run=run, grammar="kan")
    assert set(frame["grammar"]) == {"kan"}
    assert list(frame["rank"]) == list(range(1, len(frame) + 1))
    with pytest.raises(LeaderboardError, match="grammars there: einspace, ffn, kan"):
        leaderboard_frame(run=run, grammar="nope")


# ------------------------------------------------------------------ Pareto


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6) | st.just(-1)), max_size=40),
       st.booleans())
def test_pareto_mask_matches_direct_computation(points, maximize):
    # small integer ranges force ties; -1 stands for a missing (NaN) cost
    scores = [float(s) for s, _ in points]
    costs = [float("nan") if c < 0 else float(c) for _, c in points]
    assert list(pareto_mask(scores, costs, maximize)) == direct_pareto(scores, costs, maximize)


def test_pareto_mask_on_continuous_data_and_bad_input():
    rng = np.random.default_rng(3)
    scores, costs = rng.random(500), rng.lognormal(size=500)
    for maximize in (True, False):
        assert list(pareto_mask(scores, costs, maximize)) == direct_pareto(scores, costs, maximize)
    with pytest.raises(ValueError):
        pareto_mask([1.0, 2.0], [1.0])


def test_pareto_flags_in_the_frame(tmp_path):
    trials = synthetic_trials(80, seed=5, task="digits", fail_every=0)
    study = write_study(tmp_path / "s.journal", trials, "s")
    store = write_store(tmp_path / "store", study.trials)
    frame = leaderboard_frame(storage=tmp_path / "s.journal", store=store)
    scores = frame["val_score"].tolist()
    assert frame["pareto_params"].tolist() == direct_pareto(scores, frame["params"].astype(float))
    assert frame["pareto_latency"].tolist() == direct_pareto(scores, frame["latency_ms"].tolist())
    assert frame["pareto_params"].iloc[0]  # the best score is always on the front


# ------------------------------------------------------------------ sources


def test_store_columns_join_the_study_rows(tmp_path):
    trials = synthetic_trials(30, seed=2, task="digits", fail_every=0)
    study = write_study(tmp_path / "s.journal", trials, "s")
    store = write_store(tmp_path / "store", study.trials, study="s")
    frame = leaderboard_frame(storage=tmp_path / "s.journal", store=store)
    index = store_index(study.trials, study="s")  # what the records were given
    expected = index.set_index("arch_id")["latency_ms"]
    assert np.allclose(frame["latency_ms"], expected.loc[frame["arch_id"]].to_numpy())


def test_store_only_leaderboard_from_a_store(tmp_path):
    trials = synthetic_trials(20, seed=4, task="digits", fail_every=0)
    study = write_study(tmp_path / "s.journal", trials, "s")
    index = store_index(study.trials)
    store = write_store(tmp_path / "store", study.trials)
    write_store(store, write_study(tmp_path / "o.journal", synthetic_trials(
        5, seed=9, task="wine", fail_every=0), "o").trials)
    with pytest.raises(LeaderboardError, match="mixes tasks .*--task"):
        leaderboard_frame(store=store)
    frame = leaderboard_frame(store=store, task="digits")
    assert len(frame) == 20 and set(frame["task"]) == {"digits"}
    expected = index.sort_values("val_score", ascending=False)["arch_id"]
    assert list(frame["arch_id"]) == list(expected)


def test_store_only_direction_comes_from_the_index(tmp_path):
    study = write_study(tmp_path / "s.journal", synthetic_trials(
        12, task="fit", metric="score", fail_every=0), "s")
    store = write_store(tmp_path / "store", study.trials, higher_is_better=False)
    frame = leaderboard_frame(store=store)
    assert frame["val_score"].is_monotonic_increasing


def test_run_directory_with_a_real_store(tmp_path):
    run = make_run(tmp_path / "runs", "r", n=12, fail_every=5)
    trials = read_trials(run / "study.journal", "r")
    write_store(run / "bench", trials, study="r")
    index = store_index(trials, study="r")  # what the records were given
    frame = leaderboard_frame(run=run)
    expected = index.set_index("arch_id")["latency_ms"]
    assert np.allclose(frame["latency_ms"], expected.loc[frame["arch_id"]].to_numpy())
    assert all((run / "bench" / p).is_file() for p in frame["onnx_path"])


def test_a_run_whose_store_is_still_empty_ranks_from_its_study(run):
    (run / "bench").mkdir()
    frame = leaderboard_frame(run=run)
    assert len(frame) > 0 and frame["latency_ms"].isna().all()


def test_a_run_with_only_an_empty_store_is_an_error(tmp_path):
    (tmp_path / "r" / "bench").mkdir(parents=True)
    with pytest.raises(LeaderboardError, match="store"):
        leaderboard_frame(run=tmp_path / "r")


def test_study_picked_by_name_and_by_its_trials(tmp_path):
    path = tmp_path / "s.journal"
    write_study(path, synthetic_trials(5, task="digits", fail_every=0), "outer")
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    inner = optuna.create_study(storage=storage, study_name="outer/inner-0")
    inner.add_trial(optuna.trial.create_trial(value=0.1))
    assert len(leaderboard_frame(storage=path)) == 5  # the study whose trials carry arch_id
    assert len(leaderboard_frame(storage=path, study="outer")) == 5
    with pytest.raises(LeaderboardError, match="no study 'x'.*outer/inner-0"):
        leaderboard_frame(storage=path, study="x")


def test_reproducibility_block(run):
    board = load_leaderboard(run=run)
    info = board.reproducibility
    trials = read_trials(run / "study.journal", "digits-rs")
    for trial in trials[:3]:
        assert trial.user_attrs["grammar_hash"] in info["grammars"]
    assert info["task"] == "digits" and "higher is better" in info["metric"]
    assert info["study attr budget"] == "40" and "(40 distinct)" in info["seeds"]
    assert info["generated with"].startswith("nas ")


def test_published_figures_for_mnist1d_are_kept_apart(tmp_path):
    run = make_run(tmp_path, "m", n=10, task="mnist1d", fail_every=0)
    board = load_leaderboard(run=run)
    names = {f.name for f in board.references}
    assert {"logistic regression", "MLP", "CNN", "GRU", "human"} <= names
    assert {f.score for f in published_figures("mnist1d")} >= {0.32, 0.68, 0.91, 0.94, 0.96}
    assert not names & set(board.rows["arch"])  # never among the measured rows
    assert published_figures("no-such-task") == []


# ------------------------------------------------------------------ errors


def test_empty_study(tmp_path):
    write_study(tmp_path / "s.journal", [], "empty")
    with pytest.raises(LeaderboardError, match="no finished evaluations yet.*nas search"):
        leaderboard_frame(storage=tmp_path / "s.journal")


def test_only_failed_trials(tmp_path):
    write_study(tmp_path / "s.journal", synthetic_trials(4, fail_every=1), "bad")
    with pytest.raises(LeaderboardError, match="none completed.*loss became NaN"):
        leaderboard_frame(storage=tmp_path / "s.journal")


@pytest.mark.parametrize("kwargs, message", [
    ({"store": "nope"}, "store 'nope' does not exist"),
    ({"storage": "nope.journal"}, "study storage 'nope.journal' does not exist"),
    ({"storage": "sqlite:///nope.db"}, "does not exist"),
    ({"run": "nope"}, "run directory 'nope' does not exist"),
    ({}, "nothing to rank"),
])
def test_missing_sources(tmp_path, monkeypatch, kwargs, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LeaderboardError, match=message):
        leaderboard_frame(**kwargs)
    assert not (tmp_path / "nope.journal").exists()  # a typo must not create a storage


def test_an_empty_store_directory(tmp_path):
    (tmp_path / "bench").mkdir()
    with pytest.raises(LeaderboardError, match="bench"):
        leaderboard_frame(store=tmp_path / "bench")


# ------------------------------------------------------------------ run directories


def test_find_latest_run_follows_the_newest_study_file(tmp_path):
    old = make_run(tmp_path / "runs", "old", n=3)
    new = make_run(tmp_path / "runs", "new", n=3)
    (tmp_path / "runs" / "not-a-run").mkdir()
    now = 1_700_000_000
    for path, t in ((old, now), (old / "study.journal", now), (new, now - 100),
                    (new / "study.journal", now - 100)):
        os.utime(path, (t, t))
    assert find_latest_run(tmp_path / "runs") == old
    os.utime(new / "study.journal", (now + 50, now + 50))  # a journal that grew in place
    assert find_latest_run(tmp_path / "runs") == new


def test_find_latest_run_without_runs(tmp_path):
    with pytest.raises(LeaderboardError, match="no runs directory"):
        find_latest_run(tmp_path / "runs")
    (tmp_path / "runs" / "junk").mkdir(parents=True)
    with pytest.raises(LeaderboardError, match="no run directories"):
        find_latest_run(tmp_path / "runs")


def test_run_json_names_study_and_storage(tmp_path):
    data = tmp_path / "elsewhere.journal"
    write_study(data, synthetic_trials(5, task="digits", fail_every=0), "named")
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"storage": str(data), "study": "named"}))
    assert len(leaderboard_frame(run=run)) == 5
    (run / "run.json").write_text("{oops")
    with pytest.raises(LeaderboardError, match="run.json is not valid JSON"):
        leaderboard_frame(run=run)
