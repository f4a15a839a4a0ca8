"""The worker loop: stateless, so any number of them can share one study.

Each round a worker reads the study, fails stale trials (re-queueing their
architectures), and then either stops (budget spent, nothing running), waits (budget
held by running trials, which might still go stale), or evaluates one architecture:

    propose an architecture -> create the trial (with its worker, lease and the claim
    of that architecture, with its origin) -> inside the budget? -> nobody else holds
    the architecture? (else claim another) -> evaluate -> result and COMPLETE (or FAIL
    with the reason)

Each step that changes the trial is one storage write (:mod:`nas.search.batch`): a
trial costs two writes plus its lease renewals (and one more per claim lost to another
worker), whatever the number of attributes.
A trained model is exported on a background thread while the worker goes on to its
next trial (:mod:`nas.search.exporter`; ``--inline-export`` exports before it): its
trial completes when its file is written.

See :mod:`nas.search.claims` for why the budget and the one-evaluation-per-architecture
rule hold under races, and :mod:`nas.search.lease` for stale trials. SIGINT/SIGTERM stop
the worker gracefully: the running trial is failed with reason ``interrupted`` and its
architecture re-queued, then :class:`~nas.search.signals.Interrupted` propagates.

With a time limit (``--time-limit``) a worker starts no trial once the study's clock
(:mod:`nas.search.clock`) has reached it, and a running evaluation is stopped when the
clock reaches it: that trial is failed with reason ``time limit``, its architecture
re-queued (a resume with a longer limit runs it first), and the worker stops normally.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from optuna.exceptions import UpdateFinishedTrialError

from bench.store import OnnxBenchStore
from bench.tasks import data_identity, get_task
from nas.search.claims import (
    NothingToPropose,
    Proposer,
    claim,
    claim_attrs,
    has_room,
    matching_references,
    within_budget,
)
from nas.search.clock import study_seconds
from nas.search.config import SearchConfig
from nas.search.evaluate import evaluate as evaluate_arch
from nas.search.evaluate import export
from nas.search.exporter import BackgroundExports, ExportJob
from nas.search.fidelity import RungJudge, grace_rungs, rung_cohort, rung_epochs
from nas.search.history import DISCARDED, REQUEUE, History
from nas.search.lease import Lease, lease_attrs, reap_stale, worker_id
from nas.search.signals import Interrupted, TimeUp, critical, graceful_stop, time_up_in
from nas.search.strategy_registry import make_strategy
from nas.search.study import SearchStudy
from nas.space import load_space

#: what a worker reports while it runs: (event, history, details)
Listener = Callable[[str, History, dict], None]


@dataclass
class SearchContext:
    """Everything a worker loads once: config, space, task, strategy, store, study.

    ``evaluator(ctx, arch, trial_number=...) -> Outcome`` evaluates one architecture
    (default :func:`nas.search.evaluate.evaluate`: tune and train); ``exporter(ctx,
    outcome, trial_number) -> dict`` exports its model to the store (default
    :func:`nas.search.evaluate.export`).
    """

    config: SearchConfig
    space: object
    task: object
    proposer: Proposer
    store: object | None
    study: object
    storage_spec: str
    evaluator: Callable | None = None
    exporter: Callable | None = None
    #: the task data's identity (:func:`bench.tasks.data_identity`), recorded per trial
    data: str | None = None

    @property
    def study_name(self) -> str:
        return self.config.study_name

    @classmethod
    def load(cls, config: SearchConfig, storage_spec: str, create: bool = True) -> SearchContext:
        """Load the grammar, task, strategy, store and study of ``config``.

        Raises the platform's one-line errors: GrammarError, TaskError, StorageError,
        StoreError.
        """
        space = load_space(config.grammar)
        task = get_task(config.task, seed=config.seed, target=config.target,
                        **config.task_options)
        refs = (matching_references(space, task.input_shape, task.head)
                if config.seed_references else [])
        proposer = Proposer(make_strategy(config, space, task), refs, config.seed)
        data = data_identity(config.task)
        # what makes the study's scores comparable: fixed when it is created (study.py)
        identity = {"grammar": space.name, "grammar_hash": space.hash, "task": task.name,
                    "metric": task.metric, "data": data, "settings": config.score_settings()}
        study = SearchStudy.open(storage_spec, config.study_name, direction=task.direction,
                                 identity=identity, create=create)
        store = None
        if config.export:  # after every check, so that bad input leaves no directories
            store = OnnxBenchStore(config.store_dir, create=True)
        return cls(config, space, task, proposer, store, study, storage_spec, data=data)


@dataclass
class WorkerReport:
    """What one worker did: trials it finished by outcome, and why it stopped."""

    worker: str
    completed: int = 0
    failed: int = 0
    pruned: int = 0
    discarded: int = 0
    reaped: int = 0
    stopped: str = ""
    trials: list[int] = field(default_factory=list)


def run_worker(ctx: SearchContext, listener: Listener | None = None,
               poll_s: float = 2.0, should_stop: Callable[[], bool] | None = None
               ) -> WorkerReport:
    """Evaluate architectures until the study's budget is spent.

    Args:
        ctx: the loaded search (see :meth:`SearchContext.load`).
        listener: called with ``(event, history, details)`` on ``round``, ``start``,
            ``finish``, ``wait`` and ``stop``.
        poll_s: pause between rounds while other workers hold the remaining budget.
        should_stop: checked between evaluations; True stops the worker.

    Returns:
        WorkerReport, once the exports it ran in the background have finished their
        trials (whatever stopped it). Raises Interrupted on SIGINT/SIGTERM (after
        recording the trial) and StorageError when the storage stays unreachable.
    """
    report = WorkerReport(worker_id())
    exports = BackgroundExports()

    def notify(event: str, history, details: dict) -> None:
        if listener is not None:  # ``history`` may be a callable: read only when needed
            listener(event, history() if callable(history) else history, details)

    with graceful_stop():
        try:
            _rounds(ctx, report, notify, exports, poll_s, should_stop)
        finally:  # stopped for any reason: the pending exports finish their trials first
            _exported(ctx, report, notify, exports.drain())
            exports.close()
    notify("stop", ctx.study.history, {"reason": report.stopped})
    return report


def _rounds(ctx, report, notify, exports, poll_s, should_stop) -> None:
    """The worker's rounds, until it stops (``report.stopped`` says why)."""
    while True:
        _exported(ctx, report, notify, exports.collect())
        history = _reaped_history(ctx, report)
        notify("round", history, {})
        if should_stop is not None and should_stop():
            report.stopped = "asked to stop"
            return
        left = _time_left(ctx, history)
        if left is not None and left <= 0:
            report.stopped = "time limit reached"
            return
        if not has_room(history, ctx.config.max_evaluations):
            if exports.pending:  # our own trials hold the budget: finish their exports
                _exported(ctx, report, notify, exports.drain())
                continue
            if history.running:
                notify("wait", history, {})
                time.sleep(poll_s)
                continue
            report.stopped = "budget reached"
            return
        try:
            with time_up_in(left):
                _one_trial(ctx, report, notify, exports, history)
        except NothingToPropose as exc:
            report.stopped = f"nothing left to propose: {exc}"
            return
        except TimeUp:
            report.stopped = "time limit reached"
            return


def _time_left(ctx: SearchContext, history: History) -> float | None:
    """Seconds left of the study's time to search (None: no limit): the time limit, less
    final selection's share (:attr:`SearchConfig.search_seconds`)."""
    limit = ctx.config.search_seconds
    return None if limit is None else limit - study_seconds(history, time.time())


def _reaped_history(ctx: SearchContext, report: WorkerReport) -> History:
    history = ctx.study.history()
    reaped = reap_stale(ctx.study, history, ctx.config.stale_after_s)
    if reaped:
        report.reaped += len(reaped)
        history = ctx.study.history()
    return history


def _one_trial(ctx: SearchContext, report: WorkerReport, notify: Listener,
               exports: BackgroundExports, history: History) -> None:
    """Create, claim, evaluate and finish one trial (or discard it); ``history`` is the
    round's read of the study."""
    study, cfg = ctx.study, ctx.config
    settled = exports.settle()  # at most one export stays pending
    if settled:  # they finished their trials since the round's read
        _exported(ctx, report, notify, settled)
        history = study.history()
    # proposed before the trial exists, so that its creation carries the claim: one
    # write fewer per trial. The number it would get without a race seeds the proposal
    # (exact with one worker: the same seed gives the same search).
    first = ctx.proposer.propose(history, None, len(history), 0)
    trial_id, number = study.create_trial({"worker": report.worker, **claim_attrs(first)},
                                          lease_attrs(cfg.stale_after_s))
    lease = Lease(study, trial_id, cfg.heartbeat_s, cfg.stale_after_s)
    try:
        lease.start(written=True)
        history = study.history()
        if not within_budget(history, number, cfg.max_evaluations):
            _discard(ctx, trial_id, "budget reached by other workers while this trial started")
            report.discarded += 1
            return
        try:
            proposal, history = claim(study, history, trial_id, number, ctx.proposer,
                                      written=first)
        except NothingToPropose as exc:
            _discard(ctx, trial_id, str(exc))
            report.discarded += 1
            raise
        exports.release()  # the claim is made: the previous trial may complete now
        notify("start", history, {"number": number, "arch_id": proposal.arch.id,
                                  "origin": proposal.origin})
        _evaluate_and_finish(ctx, report, trial_id, number, proposal, lease, notify, exports)
    except Interrupted as exc:
        if not exports.holds(trial_id):  # trained and exporting: its export finishes it
            lease.stop()
            _requeue(ctx, trial_id, "time limit" if isinstance(exc, TimeUp) else "interrupted")
        raise
    finally:
        if not exports.holds(trial_id):  # the export job stops the lease when it is done
            lease.stop()


def _evaluate_and_finish(ctx, report, trial_id, number, proposal, lease, notify,
                         exports) -> None:
    study, evaluate = ctx.study, ctx.evaluator or evaluate_arch
    judge = _rung_judge(ctx, trial_id, proposal.origin)
    extra = {"judge": judge} if judge is not None else {}
    outcome = evaluate(ctx, proposal.arch, trial_number=number, **extra)  # a signal stops it
    outcome.attrs.update(proposal.attrs)  # e.g. predicted_score, for the store's index too
    if lease.lost:
        notify("lost", study.history, {"number": number})
        return  # failed as stale while we worked: its architecture is re-queued
    info = {"number": number, "arch_id": proposal.arch.id}
    job = ExportJob(trial_id, lambda: _export(ctx, number, outcome),
                    lambda: _record(ctx, trial_id, outcome, lease), {**info, "outcome": outcome})
    exporting = ctx.store is not None and outcome.model is not None
    with critical():  # trained: a signal now waits until the result is handed on
        if exporting and ctx.config.background_export and exports.warm:
            exports.submit(job)  # the next trial starts while this model is exported
            return
        job.export()
        done = job.record()
        exports.warm = exports.warm or exporting
    _exported(ctx, report, notify, [(job, done)])


def _exported(ctx, report: WorkerReport, notify: Listener, jobs) -> None:
    """Count and announce trials whose result is recorded (or was refused)."""
    for job, done in jobs:
        outcome = job.info["outcome"]
        if done:
            report.trials.append(job.info["number"])
            if outcome.failed:
                report.failed += 1
            elif outcome.pruned:
                report.pruned += 1
            else:
                report.completed += 1
        notify("finish", ctx.study.history, {
            "number": job.info["number"], "arch_id": job.info["arch_id"],
            "value": outcome.value, "recorded": done,
            "fail_reason": outcome.attrs.get("fail_reason")})


def _rung_judge(ctx: SearchContext, trial_id: int, origin: str):
    """The successive-halving judge of this trial of ``origin`` (None without
    ``--min-epochs``, or when no rung lies below ``--epochs``)."""
    cfg = ctx.config
    rungs = rung_epochs(cfg.min_epochs, cfg.epochs, cfg.rung_factor) if cfg.min_epochs else []
    if not rungs:
        return None
    return RungJudge(ctx.study, trial_id, rungs, cfg.rung_factor,
                     ctx.task.direction == "maximize",
                     rung_cohort(origin) if cfg.fresh_rungs else None,
                     grace_rungs(origin, cfg.growth_grace))


def _export(ctx: SearchContext, number: int, outcome) -> None:
    """Export the outcome's model to the store (its ``onnx_path`` or ``store_error`` go
    into the outcome's attributes), then let the model go."""
    outcome.attrs.update((ctx.exporter or export)(ctx, outcome, number))
    outcome.model = None


def _record(ctx: SearchContext, trial_id: int, outcome, lease: Lease) -> bool:
    """Write the attributes and finish the trial, then stop its lease; False if someone
    failed it first (as stale)."""
    claimed = ("arch", "arch_id")  # written by the claim already
    try:
        state = "FAIL" if outcome.failed else "PRUNED" if outcome.pruned else "COMPLETE"
        return ctx.study.update(trial_id, {k: v for k, v in outcome.attrs.items()
                                           if k not in claimed}, state=state,
                                value=outcome.value)
    except UpdateFinishedTrialError:
        return False
    finally:
        lease.stop()


def _discard(ctx: SearchContext, trial_id: int, reason: str) -> None:
    try:
        ctx.study.update(trial_id, {"fail_reason": f"discarded: {reason}"}, {DISCARDED: True},
                         state="FAIL")
    except UpdateFinishedTrialError:
        pass


def _requeue(ctx: SearchContext, trial_id: int, reason: str) -> None:
    """Fail a trial of this worker and re-queue its architecture."""
    try:
        record = ctx.study.record(trial_id)
        if not record.running:
            return
        flag = REQUEUE if record.arch_id else DISCARDED  # nothing to re-run without an arch
        ctx.study.update(trial_id, {"fail_reason": reason}, {flag: True}, state="FAIL")
    except UpdateFinishedTrialError:
        pass
