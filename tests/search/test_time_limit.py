"""--time-limit: the study's clock, the limit held by the worker loop and kept on resume,
and the --json summary of a search that is stopped."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from nas.cli import run_app
from nas.errors import NasError
from nas.search.clock import parse_duration, study_seconds
from nas.search.config import DEFAULT_FOLDS
from nas.search.history import History, TrialRecord
from nas.search.signals import Interrupted
from nas.search.testing import protocol_context
from nas.search.worker import run_worker


def record(number, started, finished=None, state="COMPLETE", lease_until=None, **kw):
    return TrialRecord(number, number, state, 1.0 if state == "COMPLETE" else None,
                       started=started, finished=finished, lease_until=lease_until, **kw)


def test_the_clock_is_the_union_of_trial_intervals():
    history = History.of([
        record(0, 100.0, 110.0),
        record(1, 105.0, 120.0),                  # overlaps 0: counted once
        record(2, 200.0, 205.0),                  # after a gap (between runs): gap not counted
        record(3, 300.0, None, state="RUNNING"),  # running: until now
        record(4, None),                          # never started
    ])
    assert study_seconds(history, now=310.0) == pytest.approx(20 + 5 + 10)


def test_a_dead_workers_trial_counts_until_its_last_lease():
    # killed at ~60 s, reaped a day later: only up to its lease counts
    history = History.of([record(0, 0.0, 86_400.0, state="FAIL", lease_until=70.0,
                                 requeue=True)])
    assert study_seconds(history, now=90_000.0) == pytest.approx(70.0)


@pytest.mark.parametrize("text, seconds", [
    ("20m", 1200.0), ("1h30m", 5400.0), ("90s", 90.0), ("45", 45.0), ("2.5m", 150.0),
    ("1d", 86400.0), (None, None), ("0", None), ("", None),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["20 minutes", "m", "1h-3m", "abc"])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(NasError, match="20m, 1h30m"):
        parse_duration(text)


def test_budget_or_time_limit_is_required():
    from nas.search.config import SearchConfig

    with pytest.raises(NasError, match="time_limit_s must be positive"):
        SearchConfig(budget=None, time_limit_s=-1)
    assert SearchConfig(budget=None, time_limit_s=60).max_evaluations > 10**9


def limited(journal, archs, limit, eval_seconds, finalists=0):
    """A worker context with a time limit; final selection (which keeps a share of the
    limit, tested below) off unless ``finalists`` says otherwise."""
    ctx = protocol_context(journal, "t", "ffn", [str(a) for a in archs], budget=1,
                           eval_seconds=eval_seconds)
    ctx.config = dataclasses.replace(ctx.config, budget=None, time_limit_s=limit,
                                     finalists=finalists)
    return ctx


def test_workers_leave_final_selection_its_share_of_the_limit(journal, archs):
    ctx = limited(journal, archs, limit=4.0, eval_seconds=0.6, finalists=3)
    report = run_worker(ctx, poll_s=0.05)
    assert report.stopped == "time limit reached"
    # the workers search for 85% of the limit (3.4 s); the rest (0.6 s, more than this
    # test's slack for a loaded machine) is final selection's
    assert 3.4 <= study_seconds(ctx.study.history(), time.time()) <= 3.4 + 0.5


def test_the_limit_stops_the_search_and_cuts_the_running_evaluation(journal, archs):
    ctx = limited(journal, archs, limit=1.0, eval_seconds=0.6)
    started = time.monotonic()
    report = run_worker(ctx, poll_s=0.05)
    assert report.stopped == "time limit reached"
    assert time.monotonic() - started < 2.0  # the third evaluation was stopped, not awaited
    history = ctx.study.history()
    assert len(history.completed) >= 1  # two unless this machine is very busy
    cut = [r for r in history.records if r.fail_reason == "time limit"]
    assert len(cut) == 1 and cut[0].requeue  # re-run by a resume with a longer limit
    assert 1.0 <= study_seconds(history, time.time()) <= 1.0 + 0.5


def test_a_resume_continues_the_same_clock(journal, archs):
    run_worker(limited(journal, archs, limit=1.0, eval_seconds=0.6), poll_s=0.05)
    again = run_worker(limited(journal, archs, limit=1.0, eval_seconds=0.6), poll_s=0.05)
    assert again.stopped == "time limit reached" and again.trials == []  # spent already
    ctx = limited(journal, archs, limit=2.2, eval_seconds=0.6)
    cut = {r.arch_id for r in ctx.study.history().requeued()}
    assert len(cut) == 1
    longer = run_worker(ctx, poll_s=0.05)
    history = ctx.study.history()
    assert longer.stopped == "time limit reached" and longer.trials
    first_new = next(r for r in history.records if r.number == longer.trials[0])
    assert first_new.arch_id in cut  # the evaluation cut by the first limit runs first
    assert 2.2 <= study_seconds(history, time.time()) <= 2.2 + 0.5


def interrupted(*args, **kwargs):
    raise Interrupted("SIGINT")


def test_an_interrupted_search_still_prints_its_json_summary(workdir, capsys, monkeypatch):
    monkeypatch.setattr("nas.search.run._run_here", interrupted)
    args = ["search", "-g", "ffn", "-t", "wine", "--time-limit", "5m", "--study", "w", "--json"]
    assert run_app(args) == 130
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["study"] == "w" and summary["stopped"] == "interrupted (SIGINT)"
    assert summary["budget"] is None and summary["time_limit_s"] == 300.0
    assert "interrupted" in captured.err


def test_a_time_limited_search_ends_with_its_summary(workdir, capsys):
    args = ["search", "-g", "ffn", "-t", "wine", "--time-limit", "3s", "--epochs", "1",
            "--tune-trials", "1", "--no-export", "--finalists", "3", "--json"]
    assert run_app(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["stopped"] == "time limit reached" and summary["time_limit_s"] == 3.0
    assert 0 < summary["study_seconds"] <= 3.5  # however many evaluations fit on this machine
    # final selection ran in the rest (how many finalists it scored depends on the load)
    assert summary["final_selection"]["folds"] == DEFAULT_FOLDS
