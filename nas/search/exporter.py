"""Export off the critical path: a worker trains its next architecture while the last
trained model is exported, checked and stored on a background thread.

The trial of a model whose export is pending stays RUNNING, with its lease renewed,
until its export has ended; then one write records the result with ``onnx_path`` (or
``store_error``) and completes it. So the study's guarantee does not change: every
completed evaluation has its ONNX file, or says why not. A worker killed while an
export is pending leaves that trial running; like any trial of a dead worker it is
failed as stale (with the reason) and its architecture re-queued, so a later worker
evaluates and exports it again.

A worker exports its first model inline (:attr:`BackgroundExports.warm`): the export
and the training import modules on first use, and some of them (``torch._dynamo``: the
optimizers import it, and so does the exporter) break when two threads import them at
once ("partially initialized module"). After one export and one training run in the
main thread they are all imported.

Order, so that a search with one worker proposes the same architectures whatever the
export takes (:class:`BackgroundExports`):

* at most one export is pending while the worker evaluates: before a worker starts a
  trial, every export but the newest has finished, and the newest too if a trial
  claimed since (:meth:`~BackgroundExports.settle`);
* the newest starts, and completes its trial, only after the next trial has claimed
  its architecture (:meth:`~BackgroundExports.release`): the proposal for trial ``n``
  always sees trial ``n - 1`` running, as it would see another worker's trial, and every
  earlier one finished;
* a worker that stops (budget, time limit, SIGINT/SIGTERM) first waits for its pending
  exports (:meth:`~BackgroundExports.drain`), so the search's summary counts them.

A model that needs the dynamo exporter (TorchScript's export failed, e.g. its parity
check) is not exported on the background thread: that exporter breaks training on
another thread of the process (:mod:`nas.export`). Its job ends *deferred*, and the
worker exports it on its own thread when it collects the job, between two trainings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from nas.export import ExportDeferred, dynamo_deferred

#: what a job's future holds when its export was deferred to the worker's thread
DEFERRED = "deferred"


@dataclass
class ExportJob:
    """One trained model to export, then its trial to finish.

    ``export()`` exports and stores the model (its outcome goes into the trial's
    attributes); ``record()`` writes the result and finishes the trial, returning
    whether it was recorded; ``info`` is whatever the worker reports when it is done.
    """

    trial_id: int
    export: Callable[[], None]
    record: Callable[[], bool]
    info: dict = field(default_factory=dict)
    released: threading.Event = field(default_factory=threading.Event, repr=False)
    future: Future | None = field(default=None, repr=False)

    def run(self) -> bool | str:
        """Export and record on the background thread; :data:`DEFERRED` when the model
        needs the dynamo exporter (see the module docstring)."""
        # the next trial's claim comes first (see the module docstring), and the export
        # starts after it: it would slow the claim's reads and writes down for nothing
        self.released.wait()
        try:
            with dynamo_deferred():
                self.export()
        except ExportDeferred:
            return DEFERRED
        return self.record()


class BackgroundExports:
    """The pending exports of one worker, run in order on one background thread."""

    def __init__(self):
        self._pool: ThreadPoolExecutor | None = None
        self._jobs: list[ExportJob] = []
        #: a model was exported in the main thread already (see the module docstring):
        #: only then may exports run in the background
        self.warm = False

    @property
    def pending(self) -> bool:
        return bool(self._jobs)

    def holds(self, trial_id: int) -> bool:
        """Whether the trial ``trial_id`` is waiting for its export here."""
        return any(job.trial_id == trial_id for job in self._jobs)

    def submit(self, job: ExportJob) -> None:
        """Start ``job`` after the exports submitted before it."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nas-export")
        job.future = self._pool.submit(job.run)
        self._jobs.append(job)

    def settle(self) -> list[tuple[ExportJob, bool]]:
        """Wait for every export but the newest, and for the newest too once it has been
        released (see :meth:`collect` for the result).

        A released export may finish its trial at any moment; waiting for it keeps the
        next proposal's history the same whatever the export takes (a trial that had no
        model to export, e.g. stopped at a rung, releases the export before it)."""
        for job in self._jobs:
            if job is not self._jobs[-1] or job.released.is_set():
                job.released.set()
                job.future.exception()  # waits; collect() raises it
        return self.collect()

    def release(self) -> None:
        """Let every pending export finish its trial (the next claim has been made)."""
        for job in self._jobs:
            job.released.set()

    def collect(self) -> list[tuple[ExportJob, bool]]:
        """The exports that have ended, oldest first, with whether their trial was
        recorded (False: someone finished it first, e.g. failed it as stale). Raises
        what an export's storage write raised (e.g. StorageError)."""
        done = []
        while self._jobs and self._jobs[0].future.done():
            job = self._jobs.pop(0)
            recorded = job.future.result()
            if recorded == DEFERRED:  # this thread trains, so nothing trains beside it
                job.export()
                recorded = job.record()
            done.append((job, recorded))
        return done

    def drain(self) -> list[tuple[ExportJob, bool]]:
        """Wait for every pending export (a worker that stops calls this)."""
        self.release()
        for job in self._jobs:
            job.future.exception()
        return self.collect()

    def close(self) -> None:
        """Wait for the pending exports and stop the thread."""
        self.drain()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
