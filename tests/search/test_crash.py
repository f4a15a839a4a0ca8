"""Crash safety with real processes: kill -9, SIGTERM, two workers on one journal study."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from search_checks import (
    check_killed_trial,
    check_run,
    finish,
    kill_9_mid_trial,
    open_run,
    signal_mid_trial,
    start,
)

pytestmark = pytest.mark.slow

def test_kill_9_mid_trial_then_resume_loses_and_repeats_nothing(workdir):
    proc = start(workdir, "-n", "4")
    victim = kill_9_mid_trial(workdir, proc)  # the search's one worker is its own process
    proc.wait()
    before = {r.number: r for r in open_run(workdir / "run").history().evaluated}
    summary = finish(workdir, "-n", "4")
    history = check_run(workdir / "run", 4)
    check_killed_trial(history, victim)
    rerun = [r for r in history.evaluated if r.arch_id == victim.arch_id]
    assert len(rerun) == 1 and rerun[0].number > victim.number
    assert rerun[0].user_attrs["origin"] == victim.user_attrs["origin"]
    assert rerun[0].user_attrs["requeued_from"] == victim.number
    for number, record in before.items():
        assert history.records[number] == record
    assert summary["trials_completed"] + summary["trials_failed"] == 4


def test_sigterm_stops_gracefully_and_requeues_the_running_architecture(workdir):
    proc = start(workdir, "-n", "3")
    victim = signal_mid_trial(workdir, proc, signal.SIGTERM)  # the one worker is proc
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err
    stopped = open_run(workdir / "run").history().get(victim.trial_id)
    assert stopped.state == "FAIL" and stopped.requeue and stopped.fail_reason == "interrupted"
    finish(workdir, "-n", "3")
    history = check_run(workdir / "run", 3)
    assert [r.arch_id for r in history.evaluated].count(victim.arch_id) == 1


def test_two_workers_share_one_study_exactly(workdir):
    summary = finish(workdir, "-n", "6", "--workers", "2", "--epochs", "20")
    history = check_run(workdir / "run", 6)
    workers = {r.worker for r in history.evaluated}
    assert len(workers) == 2 and summary["trials_discarded"] == 0
    status = subprocess.run([sys.executable, "-m", "nas", "status", "--run", "run", "--json"],
                            cwd=workdir, capture_output=True, text=True, check=True)
    counts = {w["worker"]: w["completed"] + w["failed"]
              for w in json.loads(status.stdout)["workers"]}
    assert sum(counts.values()) == 6 and set(counts) == workers
    assert list((workdir / "run" / "logs").glob("worker-*.log"))


def test_a_killed_worker_is_replaced_by_the_other_one(workdir):
    proc = start(workdir, "-n", "5", "--workers", "2")
    victim = kill_9_mid_trial(workdir, proc)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    history = check_run(workdir / "run", 5)
    check_killed_trial(history, victim)
    assert [r.arch_id for r in history.evaluated].count(victim.arch_id) == 1
    summary = json.loads(out.strip().splitlines()[-1])
    assert any("exit code -9" in w["stopped"] for w in summary["workers"])
