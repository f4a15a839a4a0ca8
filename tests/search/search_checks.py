"""Checks shared by the end-to-end tests: what a finished run directory must hold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pandas as pd

from bench.store import OnnxBenchStore
from nas.onnx_cost import count_macs, count_params
from nas.onnx_file import read_metadata
from nas.search.study import SearchStudy

#: user_attrs every completed trial carries (docs/SCHEMA.md, plus the worker)
COMPLETE_ATTRS = {"arch", "arch_id", "grammar", "grammar_hash", "task", "metric", "val_score",
                  "test_score", "params", "macs", "hparams", "train_seconds", "epochs",
                  "strategy", "seed", "worker", "settings", "data", "platform_version"}


def open_run(run: Path, study: str | None = None) -> SearchStudy:
    meta = json.loads((run / "run.json").read_text())
    spec = meta["storage"]
    if "://" not in spec and not Path(spec).is_absolute():
        spec = str(run / spec)
    return SearchStudy.open(spec, study or meta["study"], create=False)


def check_run(run: Path, budget: int, study: str | None = None, exported: bool = True):
    """Assert the study and store of ``run`` agree and hold ``budget`` evaluations.

    Returns the study's history.
    """
    history = open_run(run, study).history()
    evaluated = history.evaluated
    assert len(evaluated) == budget, [(r.number, r.state, r.fail_reason) for r in history.records]
    ids = [r.arch_id for r in evaluated]
    assert len(set(ids)) == len(ids), "an architecture was evaluated twice"
    assert not history.running
    for r in history.completed:
        missing = COMPLETE_ATTRS - set(r.user_attrs)
        assert not missing, f"trial {r.number} lacks {missing}"
        assert r.user_attrs["val_score"] == r.value
    for r in history.failed:
        assert r.fail_reason, f"failed trial {r.number} has no reason"
    if exported:
        check_store(run / "bench", history)
    return history


def check_store(root: Path, history) -> None:
    """Every completed trial is in the store index, with a valid ONNX file scored first."""
    frame = OnnxBenchStore(root).to_dataframe()
    done = {r.arch_id: r for r in history.completed if "store_error" not in r.user_attrs}
    assert set(frame["arch_id"]) == set(done)
    if done:  # the run has ended: index.parquet alone holds every record (issue 14)
        on_disk = pd.read_parquet(root / "index.parquet")
        assert sorted(on_disk["arch_id"]) == sorted(frame["arch_id"])
        assert OnnxBenchStore(root).stats()["index"] == "current"
    for row in frame.itertuples():
        trial = done[row.arch_id]
        assert row.trial_number == trial.number and row.val_score == trial.value
        assert row.onnx_path == trial.user_attrs["onnx_path"]
        meta = read_metadata(root / row.onnx_path)
        first_key, first_value = next(iter(meta.items()))
        assert first_key == "score" and float(first_value) == trial.value
        # one number per figure: the study shows what the store counted from the file
        model = onnx.load(root / row.onnx_path)
        assert trial.user_attrs["params"] == row.params == count_params(model)
        assert trial.user_attrs["macs"] == row.macs == count_macs(model)


# --- searches in subprocesses (crash tests) ---------------------------------------

# ffn on digits: about 0.5-3 s per evaluation at 80 epochs, long enough to kill mid-trial;
# every architecture trains in full (successive halving has its own crash tests in
# test_fidelity.py)
SEARCH = [sys.executable, "-m", "nas", "search", "-g", "ffn", "-t", "digits", "--epochs",
          "80", "--min-epochs", "none", "--tune-trials", "1", "--out", "run", "--json"]


def start(workdir, *extra) -> subprocess.Popen:
    return subprocess.Popen([*SEARCH, *extra], cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ})


def finish(workdir, *extra) -> dict:
    done = subprocess.run([*SEARCH, *extra], cwd=workdir, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def wait_for_running(workdir, proc, done_at_least: int = 1, timeout: float = 180):
    """Wait until ``done_at_least`` evaluations finished and another one is under way;
    returns that running trial's record (the newest: an older one may be waiting for
    its background export, nas/search/exporter.py)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        if (workdir / "run" / "run.json").exists():
            history = open_run(workdir / "run").history()
            running = [r for r in history.running if r.arch_id]
            if len(history.evaluated) >= done_at_least and running:
                return running[-1]
        time.sleep(0.05)
    raise AssertionError("the search never reached the wanted state")


def kill_9_mid_trial(workdir, proc, settle_s: float = 0.5, timeout: float = 180):
    """``kill -9`` a worker of the search ``proc`` while it is provably in the middle of a
    trial; returns that trial's record, read while its worker was frozen
    (:func:`signal_mid_trial`)."""
    return signal_mid_trial(workdir, proc, signal.SIGKILL, settle_s, timeout)


def signal_mid_trial(workdir, proc, sig: int, settle_s: float = 0.5, timeout: float = 180):
    """Send ``sig`` to a worker of the search ``proc`` while it is provably in the middle
    of a trial; returns that trial's record, read while its worker was frozen.

    A running trial seen in the study may finish before a signal lands (a tiny task trains
    in about a second, less than a loaded machine may take between the read and the kill),
    and then nothing is left to re-queue. So the worker named on the trial is frozen first
    (SIGSTOP) and the trial read again: still running (training, or waiting for its
    background export), it cannot finish any more, so the signal lands mid-trial (a
    signal other than SIGKILL waits for the worker to be thawed, and its handler runs
    first); finished meanwhile, the worker is thawed and the next one tried.
    """
    deadline = time.time() + timeout
    while time.time() < deadline:
        seen = wait_for_running(workdir, proc, timeout=deadline - time.time())
        pid = int(seen.worker.rsplit(":", 1)[1])
        os.kill(pid, signal.SIGSTOP)
        time.sleep(settle_s)  # a write it sent just before the stop reaches the storage
        victim = open_run(workdir / "run").history().get(seen.trial_id)
        if victim.running:
            os.kill(pid, sig)
            if sig != signal.SIGKILL:
                os.kill(pid, signal.SIGCONT)
            return victim
        os.kill(pid, signal.SIGCONT)
    raise AssertionError("no worker was ever frozen in the middle of a trial")


def check_killed_trial(history, victim) -> None:
    """The trial a worker was running when it was killed (:func:`kill_9_mid_trial`) was
    failed as stale and its architecture re-queued; so was any other trial it left
    running (an older one waiting for its background export, nas/search/exporter.py, or
    a newer one), and those were its last trials: every earlier one had finished."""
    killed = history.get(victim.trial_id)
    assert killed.state == "FAIL" and killed.requeue, killed
    mine = [r for r in history.records if r.worker == victim.worker]
    reaped = [r for r in mine if "is no longer running" in (r.fail_reason or "")]
    assert killed in reaped and all(r.requeue or r.discarded for r in reaped), reaped
    first = min(r.number for r in reaped)
    assert all(r in reaped for r in mine if r.number >= first), mine


def network(record) -> str:
    """What a trial evaluated, as claims key it: its function key (another string of the
    same network has the same one), or its arch id in a study from before keys."""
    return record.user_attrs.get("function_key") or record.arch_id
