"""Export off the critical path (nas/search/exporter.py): every completed trial still ends
with its checked ONNX file, the proposal order does not depend on how long an export
takes, a worker waits for its exports before it stops, and a killed worker's pending
export is re-done, not lost. Real exports of real (untrained) ffn models into a real
store; evaluations only sleep."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest
import torch

from bench.store import OnnxBenchStore
from nas.errors import ExportError
from nas.onnx_file import read_metadata
from nas.search import SearchConfig, run_search
from nas.search.study import SearchStudy
from nas.search.testing import FixedStrategy, protocol_context, protocol_worker, run_protocol_race
from nas.search.worker import run_worker


def check_exported(store_dir, history) -> None:
    """Every completed trial has its file in the store, scored with the trial's value and
    with a passing parity record; nothing is running; the store holds nothing else."""
    assert not history.running
    store = OnnxBenchStore(store_dir)
    rows = {row["arch_id"]: row for _, row in store.records()}
    assert set(rows) == {r.arch_id for r in history.completed}
    for trial in history.completed:
        assert "store_error" not in trial.user_attrs
        path = store.root / trial.user_attrs["onnx_path"]
        meta = read_metadata(path)
        assert float(meta["score"]) == trial.value
        assert int(meta["trial_number"]) == trial.number
        assert 0.0 <= float(meta["parity_max_abs_err"]) < 1e-4  # onnxruntime agreed


def texts(archs):
    return [str(a) for a in archs]


@pytest.mark.parametrize("kind", ["journal", "sqlite",
                                  pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_every_completed_trial_ends_with_its_file_on_every_storage(kind, tmp_path, archs,
                                                                   request):
    spec = {"journal": str(tmp_path / "s.journal"), "sqlite": str(tmp_path / "s.db")}.get(kind)
    study = f"bg-{kind}-{os.getpid()}-{time.time_ns()}"
    if kind == "postgresql":
        spec = request.getfixturevalue("postgres_url")
    ctx = protocol_context(spec, study, "ffn", texts(archs), budget=4, eval_seconds=0.05,
                           store_dir=str(tmp_path / "bench"), export_seconds=0.2)
    report = run_worker(ctx, poll_s=0.05)
    history = SearchStudy.open(spec, study, create=False).history()
    assert report.completed == len(history.completed) == 4 and report.stopped == "budget reached"
    check_exported(tmp_path / "bench", history)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "sqlite",
                                  pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_worker_processes_export_every_trial(kind, tmp_path, archs, request):
    spec = {"journal": str(tmp_path / "s.journal"), "sqlite": str(tmp_path / "s.db")}.get(kind)
    if kind == "postgresql":
        spec = request.getfixturevalue("postgres_url")
    history, reports = run_protocol_race(spec, f"race-{os.getpid()}-{time.time_ns()}", "ffn",
                                         texts(archs), budget=6, workers=2, eval_seconds=0.2,
                                         spread=True, store_dir=str(tmp_path / "bench"))
    assert sum(r.completed for r in reports) == len(history.completed) == 6
    assert len({r.worker for r in history.completed}) == 2
    check_exported(tmp_path / "bench", history)


class Recording(FixedStrategy):
    """FixedStrategy that notes, at each proposal, the state of every trial it sees."""

    def __init__(self, space, archs):
        super().__init__(space, archs)
        self.seen: list[dict[int, str]] = []

    def propose(self, history, rng):
        self.seen.append({r.number: r.state for r in history.records})
        return super().propose(history, rng)


@pytest.mark.parametrize("background", [True, False])
def test_a_proposal_sees_the_same_history_however_long_the_export_takes(background, tmp_path,
                                                                        space, archs):
    ctx = protocol_context(str(tmp_path / "s.journal"), "s", "ffn", texts(archs), budget=5,
                           store_dir=str(tmp_path / "bench"), export_seconds=0.3,
                           background_export=background)
    strategy = ctx.proposer.strategy = Recording(space, archs)
    run_worker(ctx, poll_s=0.05)
    for number, seen in enumerate(strategy.seen):
        finished = {n for n, state in seen.items() if state == "COMPLETE"}
        if background and number >= 2:  # the previous trial is still exporting, every
            assert finished == set(range(number - 1))  # earlier one is done
            assert seen[number - 1] == "RUNNING"
        else:  # inline, or after the first model, which a worker exports inline
            assert finished == set(range(number))
    check_exported(tmp_path / "bench", ctx.study.history())


def test_the_worker_and_the_search_summary_wait_for_pending_exports(tmp_path, workdir, archs):
    ctx = protocol_context(str(tmp_path / "s.journal"), "s", "ffn", texts(archs), budget=3,
                           store_dir=str(tmp_path / "bench"), export_seconds=1.0)
    started = time.monotonic()
    report = run_worker(ctx, poll_s=0.05)
    assert time.monotonic() - started >= 3.0  # three exports of 1 s (the first inline)
    assert report.completed == 3 and report.trials == [0, 1, 2]
    check_exported(tmp_path / "bench", ctx.study.history())
    summary = run_search(SearchConfig(grammar="ffn", task="wine", budget=2, epochs=1,
                                      tune_trials=1, trial_seconds=0, seed_references=False))
    assert summary.completed + summary.failed == 2 and summary.running == 0
    assert os.path.isfile(summary.best["onnx_path"])
    history = SearchStudy.open("runs/ffn-wine/study.journal", "ffn-wine",
                               create=False).history()
    check_exported("runs/ffn-wine/bench", history)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal",
                                  pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_killed_workers_pending_export_is_redone_by_the_next_worker(kind, tmp_path, archs,
                                                                     request):
    spec, bench = str(tmp_path / "s.journal"), str(tmp_path / "bench")
    name = f"killed-{os.getpid()}-{time.time_ns()}"
    if kind == "postgresql":
        spec = request.getfixturevalue("postgres_url")
    study = SearchStudy.open(spec, name, direction="maximize")
    mp = multiprocessing.get_context("spawn")
    results = mp.Queue()  # held: the child unpickles it after this line
    proc = mp.Process(target=protocol_worker, args=(spec, name, "ffn", texts(archs), 4,
                                                    time.time(), 0.1, results),
                      kwargs={"store_dir": bench, "export_seconds": 3.0})
    proc.start()
    deadline = time.time() + 300  # spawning and importing torch: slow on busy cores
    while len(study.history().running) < 2:  # trial 1 exporting while trial 2 trains
        assert time.time() < deadline and proc.is_alive()  # (trial 0 is exported inline)
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    pending = study.history().running[0]
    assert pending.number == 1 and "onnx_path" not in pending.user_attrs
    stored = {row["arch_id"] for _, row in OnnxBenchStore(bench).records()}
    assert pending.arch_id not in stored  # its file was never written

    ctx = protocol_context(spec, name, "ffn", texts(archs), budget=4, store_dir=bench)
    report = run_worker(ctx, poll_s=0.05)  # the resume: reaps, re-runs, exports
    history = ctx.study.history()
    killed = history.get(pending.trial_id)
    assert killed.state == "FAIL" and killed.requeue
    assert "is no longer running" in killed.fail_reason
    redone = [r for r in history.completed if r.arch_id == pending.arch_id]
    assert len(redone) == 1 and redone[0].user_attrs["requeued_from"] == killed.number
    assert redone[0].user_attrs["origin"] == killed.user_attrs["origin"]
    assert report.completed == 3 and len(history.evaluated) == 4
    check_exported(bench, history)


@pytest.mark.slow
def test_a_one_worker_search_with_background_export_is_reproducible(workdir):
    def search(out):
        run_search(SearchConfig(grammar="ffn", task="wine", budget=6, strategy="evolution",
                                population=4, epochs=2, tune_trials=1, out=out,
                                seed_references=False))
        history = SearchStudy.open(f"{out}/study.journal", "ffn-wine", create=False).history()
        check_exported(f"{out}/bench", history)
        return [(r.arch_id, r.user_attrs["origin"], r.value) for r in history.records]

    first, second = search("runs/a"), search("runs/b")
    assert first == second
    assert any(origin.startswith(("mutation", "crossover")) for _, origin, _ in first)


def test_settle_waits_for_a_released_export_but_not_for_an_unreleased_one():
    """The newest export stays pending only until a later trial has claimed: once
    released it may finish its trial at any moment, so the next trial waits for it
    (else a trial without a model in between, e.g. stopped at a rung, let the
    proposal after it see that export finished or not depending on timing)."""
    from nas.search.exporter import BackgroundExports, ExportJob

    exports = BackgroundExports()
    recorded = []
    job = ExportJob(7, lambda: time.sleep(0.3), lambda: recorded.append(7) or True)
    exports.submit(job)
    assert exports.settle() == [] and exports.pending  # not released: it stays pending
    exports.release()  # the next trial claimed its architecture
    assert exports.settle() == [(job, True)] and recorded == [7]
    assert not exports.pending
    exports.close()



class BatchBranch(torch.nn.Module):
    """A network whose output depends on its batch size: TorchScript traces one branch
    (at batch 2), so onnxruntime disagrees with torch at batch 7 and the dynamo exporter
    is tried next, as for the pointer networks of the held-out ptrnet set, whose LSTM
    models TorchScript mis-exported after training."""

    def forward(self, x):
        return x.flatten(1) * (3.0 if x.shape[0] > 4 else 2.0)


def test_a_background_export_that_needs_dynamo_is_deferred_to_the_workers_thread(
        monkeypatch):
    """The dynamo exporter breaks a training on another thread of the process (KeyError
    'custom' in torch.fx.traceback: nas/export.py); a background export that needs it
    ends deferred, and the worker runs it on its own thread when it collects the job."""
    import nas.export
    from nas.search.exporter import BackgroundExports, ExportJob

    model, shape = BatchBranch(), (4,)
    with nas.export.dynamo_deferred(), pytest.raises(nas.export.ExportDeferred):
        nas.export.export_onnx(model, shape)
    threads, recorded = [], []
    real = nas.export._dynamo

    def watched(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    def export():
        try:
            nas.export.export_onnx(model, shape)
        except ExportError:
            pass  # both exporters mistranslate this network: the trial keeps store_error

    monkeypatch.setattr(nas.export, "_dynamo", watched)
    exports = BackgroundExports()
    exports.submit(ExportJob(7, export, lambda: recorded.append(True) or True))
    exports.release()
    (job, done), = exports.drain()
    exports.close()
    assert job.trial_id == 7 and done and recorded == [True]
    assert threads == [threading.main_thread().name]  # tried once, on the worker's thread
