"""Run a search: prepare the run directory, start the workers, report the outcome.

    from nas.search import SearchConfig, run_search
    summary = run_search(SearchConfig(grammar="einspace", task="digits", budget=12))
    summary.best, summary.completed, summary.to_json()

The run directory follows the leaderboard's convention (docs/leaderboard.md)::

    runs/<study>/study.journal   the outer Optuna study (default storage)
    runs/<study>/bench/          the ONNX-Bench store of every evaluated architecture
    runs/<study>/run.json        study name, storage, and the search's options
    runs/<study>/logs/           one log per worker process (``--workers N > 1``)

With one worker the search runs in this process. With ``--workers N`` it starts N
processes (spawned, one torch thread each) that share the study exactly as workers on
other machines would; this process only watches the storage to show progress, and
forwards SIGINT/SIGTERM to them.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_mod
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna
import torch

from bench.storage import redact, storage_kind, with_driver, without_password
from nas import __version__
from nas.errors import NasError
from nas.json_text import dumps
from nas.paths import output_dir
from nas.search.clock import study_seconds
from nas.search.config import SearchConfig
from nas.search.final import select_final
from nas.search.history import History
from nas.search.progress import SearchProgress
from nas.search.selection import best_info, load_selection
from nas.search.signals import Interrupted
from nas.search.worker import SearchContext, WorkerReport, run_worker

DEFAULT_STORAGE_FILE = "study.journal"
RUN_FILE = "run.json"


@dataclass
class SearchSummary:
    """The state of the study when this search ended (all workers, all machines)."""

    study: str
    storage: str
    run_dir: str
    store: str | None
    budget: int | None
    completed: int
    failed: int
    running: int
    requeued: int
    discarded: int
    best: dict | None
    stopped: str
    workers: list[dict] = field(default_factory=list)
    time_limit_s: float | None = None
    study_seconds: float = 0.0
    pruned: int = 0
    #: the study's final selection (``FinalSelection.to_dict()``), if it ran
    final: dict | None = None

    def to_json(self) -> dict:
        """The ``--json`` summary: study, storage, counts, best arch id and scores, store."""
        best = self.best or {}
        return {"study": self.study, "storage": self.storage, "run_dir": self.run_dir,
                "store": self.store, "budget": self.budget,
                "trials_completed": self.completed, "trials_failed": self.failed,
                "trials_pruned": self.pruned,
                "trials_running": self.running, "trials_requeued": self.requeued,
                "trials_discarded": self.discarded,
                "best_arch_id": best.get("arch_id"), "best_val_score": best.get("val_score"),
                "best_test_score": best.get("test_score"),
                "best_cv_score": best.get("cv_score"),
                "best_final_test_score": best.get("final_test_score"),
                "best": self.best or None, "final_selection": self.final,
                "time_limit_s": self.time_limit_s,
                "study_seconds": round(self.study_seconds, 1),
                "stopped": self.stopped, "workers": self.workers}


def default_storage(config: SearchConfig) -> str:
    """``--storage``, else the run directory's journal file."""
    return config.storage or str(config.run_dir / DEFAULT_STORAGE_FILE)


def run_search(config: SearchConfig, progress: SearchProgress | None = None,
               command: str | None = None) -> SearchSummary:
    """Run (or resume) the search ``config`` describes until its budget is spent.

    Args:
        config: the search (see :class:`SearchConfig`).
        progress: where progress goes (default: nowhere).
        command: the command line, recorded in the study for reproducibility.

    Returns:
        SearchSummary of the whole study.

    Raises:
        GrammarError, TaskError, StorageError, StoreError: bad input (before any work).
        Interrupted: SIGINT/SIGTERM (after every worker recorded its state); its
            ``summary`` attribute is the study's :class:`SearchSummary` at that moment.
    """
    output_dir(config.run_dir, "run directory (--out)")
    spec = default_storage(config)
    _check_device(config.device)
    torch.set_num_threads(1)
    ctx = SearchContext.load(config, spec)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    _record_run(ctx, spec, command)
    view = progress or SearchProgress(config.budget, mode="quiet")
    view.metric, view.time_limit_s = ctx.task.metric, config.time_limit_s
    with view:
        try:
            reports = [_run_here(ctx, view)] if config.workers == 1 else _run_processes(ctx, view)
        except Interrupted as exc:  # the caller still gets the study's state (--json)
            exc.summary = summarise(ctx, ctx.study.history(), f"interrupted ({exc})", [])
            raise
        finally:  # this machine's writers are done: make index.parquet complete
            _compact_store(ctx, view)
        history = ctx.study.history()
        view.update(history)
        _final_stage(ctx, history, view)
    stopped = "; ".join(sorted({r.stopped for r in reports if r.stopped})) or "done"
    return summarise(ctx, ctx.study.history(), stopped, reports)


def _final_stage(ctx: SearchContext, history: History, view: SearchProgress) -> None:
    """Final selection (:mod:`nas.search.final`) in the time the search left."""
    limit = ctx.config.time_limit_s
    deadline = None
    if limit is not None:
        deadline = time.monotonic() + max(0.0, limit - study_seconds(history, time.time()))
    try:
        select_final(ctx, deadline, view.note)
    except Interrupted as exc:  # what was scored is recorded; the summary shows it
        exc.summary = summarise(ctx, ctx.study.history(), f"interrupted ({exc})", [])
        raise


def _check_device(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise NasError("--device cuda asked for but CUDA is not available here: use "
                       "--device cpu (or auto)")


def _record_run(ctx: SearchContext, spec: str, command: str | None) -> None:
    """Write run.json and the study's reproducibility attributes."""
    cfg = ctx.config
    options = cfg.to_dict()
    if options["storage"]:
        options["storage"] = redact(options["storage"])
    meta = {"study": cfg.study_name, "storage": _storage_for_run_file(spec, cfg.run_dir),
            "grammar": ctx.space.name, "task": ctx.task.name, "strategy": cfg.strategy,
            "budget": cfg.budget, "seed": cfg.seed, "config": options}
    _write_json(cfg.run_dir / RUN_FILE, meta)
    # the latest run's; what defines the scores (settings, data) is fixed at creation
    attrs = {"budget": cfg.budget, "time_limit_s": cfg.time_limit_s,
             "strategy": cfg.strategy, "platform_version": __version__,
             "command": redact(command or "run_search()")}
    for key, value in attrs.items():
        ctx.study.set_study_attr(key, value)


def _compact_store(ctx: SearchContext, view: SearchProgress) -> None:
    """Fold every journal line into the store's ``index.parquet``, so that a tool that
    reads the file directly sees every record. Safe while writers on other machines
    still append (see :meth:`bench.store.OnnxBenchStore.refresh_index`); a failure here
    loses nothing (readers fold the journals in), so it is a note, not an error."""
    if ctx.store is None:
        return
    try:
        ctx.store.refresh_index()
    except (OSError, NasError) as exc:
        view.note(f"index.parquet of {ctx.config.store_dir} not updated ({exc}); every "
                  "`nas` reader still sees all records: `nas bench rebuild` writes it")


def _storage_for_run_file(spec: str, run_dir: Path) -> str:
    """How run.json names the storage: relative to the run directory when it lies
    inside it, absolute for other files, a URL without its password otherwise."""
    if storage_kind(spec) == "journal" or ("://" not in spec):
        path = Path(spec).resolve()
        try:
            return str(path.relative_to(run_dir.resolve()))
        except ValueError:
            return str(path)
    return without_password(with_driver(spec))  # readers may lack psycopg 3 (see storage)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


# --- one worker, in this process ----------------------------------------------------


def _run_here(ctx: SearchContext, view: SearchProgress) -> WorkerReport:
    def listen(event: str, history: History, details: dict) -> None:
        view.update(history)
        if event == "wait" and not listen.waited:
            listen.waited = True
            view.note(f"budget held by {len(history.running)} running trial(s) of other "
                      "workers: waiting for them to finish (or go stale)")

    listen.waited = False
    return run_worker(ctx, listen)


# --- several worker processes -------------------------------------------------------


def _run_processes(ctx: SearchContext, view: SearchProgress,
                   poll_s: float = 1.0) -> list[WorkerReport]:
    """Start ``workers`` processes, show progress until they end, collect reports."""
    cfg = ctx.config
    mp = multiprocessing.get_context("spawn")
    results = mp.Queue()
    logs = cfg.run_dir / "logs"
    logs.mkdir(exist_ok=True)
    procs = [mp.Process(target=worker_process, name=f"nas-worker-{i}",
                        args=(cfg.to_dict(), ctx.storage_spec, str(logs), results))
             for i in range(cfg.workers)]
    for proc in procs:
        proc.start()
    signals = _forward_signals(procs)
    try:
        messages = _watch(ctx, view, procs, results, poll_s)
    finally:
        _restore(signals)
    return _reports(procs, messages, signals["received"], logs)


def _forward_signals(procs) -> dict:
    """On SIGINT/SIGTERM, pass SIGTERM on to the workers (each stops gracefully)."""
    state: dict = {"received": None, "previous": {}}

    def forward(signum, frame):
        state["received"] = state["received"] or signal.Signals(signum).name
        for proc in procs:
            if proc.is_alive():
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    for sig in (signal.SIGINT, signal.SIGTERM):
        state["previous"][sig] = signal.signal(sig, forward)
    return state


def _restore(state: dict) -> None:
    for sig, handler in state["previous"].items():
        signal.signal(sig, handler)


def _watch(ctx, view, procs, results, poll_s: float) -> list:
    messages = []
    # every is_alive() call, not any()'s first True: it reaps a dead worker, and until
    # then its PID still exists (a zombie) for the other workers' stale check
    while any([p.is_alive() for p in procs]):
        messages += _drain(results)
        view.update(ctx.study.history())
        time.sleep(poll_s)
    for proc in procs:
        proc.join()
    return messages + _drain(results, wait=0.5)


def _drain(queue, wait: float = 0.0) -> list:
    items = []
    deadline = time.monotonic() + wait
    while True:
        try:
            items.append(queue.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue_mod.Empty:
            return items


def _reports(procs, messages: list, interrupted: str | None,
             log_dir: Path) -> list[WorkerReport]:
    reports = [WorkerReport(**body) for kind, body in messages if kind == "report"]
    errors = [body for kind, body in messages if kind == "error"]
    if interrupted:
        raise Interrupted(interrupted)
    if errors and not reports:
        raise NasError(errors[0])
    if not reports:
        codes = ", ".join(str(p.exitcode) for p in procs)
        raise NasError(f"every worker process ended abnormally (exit codes {codes}): see "
                       f"their logs in {log_dir}")
    killed = [p for p in procs if p.exitcode not in (0, 2)]
    for proc in killed:
        reports.append(WorkerReport(f"pid {proc.pid}", stopped=f"worker ended with exit code "
                                    f"{proc.exitcode}"))
    if errors:
        reports.append(WorkerReport("?", stopped=f"a worker failed: {errors[0]}"))
    return reports


def worker_process(config: dict, spec: str, log_dir: str, results) -> None:
    """Entry point of one worker process: its output goes to ``<log_dir>/worker-<pid>.log``."""
    _redirect_output(Path(log_dir) / f"worker-{os.getpid()}.log")
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        ctx = SearchContext.load(SearchConfig.from_dict(config), spec)
        report = run_worker(ctx)
    except Interrupted:
        sys.exit(130)
    except NasError as exc:
        results.put(("error", str(exc)))
        sys.exit(2)
    results.put(("report", asdict(report)))


def _redirect_output(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


# --- summary --------------------------------------------------------------------------


def summarise(ctx: SearchContext, history: History, stopped: str,
              reports: list[WorkerReport]) -> SearchSummary:
    """A :class:`SearchSummary` of ``history``."""
    selection = load_selection(ctx.study)
    best, final_info = best_info(history, selection)
    best_dict = None
    if best is not None:
        attrs = best.user_attrs
        onnx = attrs.get("onnx_path")
        best_dict = {"trial_number": best.number, "arch_id": best.arch_id, "arch": best.arch,
                     "val_score": best.value, "test_score": attrs.get("test_score"),
                     "params": attrs.get("params"),
                     "onnx_path": str(ctx.config.store_dir / onnx) if onnx else None,
                     **final_info}
    return SearchSummary(
        study=ctx.study_name, storage=redact(ctx.storage_spec), run_dir=str(ctx.config.run_dir),
        store=str(ctx.config.store_dir) if ctx.store is not None else None,
        budget=ctx.config.budget, **history.counts(),
        best=best_dict, stopped=stopped, workers=[asdict(r) for r in reports],
        time_limit_s=ctx.config.time_limit_s, study_seconds=study_seconds(history, time.time()),
        final=selection.to_dict() if selection is not None else None)
