"""Final selection: cross-validate the search's finalists, retrain the winner on all
labelled rows.

A search ranks architectures by one validation split. On a small task that split
saturates near the top (on digits, 270 rows: dozens of networks tie at 100% while
their test accuracies differ by more than a point; docs/search.md, "Which architecture
is best"), so the best by validation is a draw among them. Final selection gives the
search a sharper signal where it matters, at the end:

1. **Finalists**: the ``n`` best completed architectures by validation
   (:func:`nas.search.history.fitness`), one per function (:mod:`nas.canonical`).
2. **Cross-validation**: each is trained ``k`` times with its tuned hyperparameters,
   once per fold of a stratified ``k``-fold cut of train + validation, and scored on
   the held-out fold; its ``cv_score`` is the mean. Every labelled row is held out once,
   so the score rests on ``len(train) + len(val)`` predictions instead of ``len(val)``.
3. **Winner**: the finalist with the best ``cv_score`` (its validation fitness breaks
   ties).
4. **Final model**: the winner retrained on train + validation together (the usual
   protocol of a final evaluation; no held-out row is left, so its epoch is the best on
   the training rows) and scored once on the test split: ``final_test_score``. Test
   chooses nothing.

The test split is never read before step 4. Everything is recorded in the study
(study user_attr ``final_selection``) so that ``nas status``, ``--json`` and a resume
see it; a finalist already cross-validated under the same settings is not trained again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from bench.tasks.base import Split, Task
from bench.training import Budget, HParams, train_model
from nas.errors import NasError, first_line
from nas.search.selection import (
    FINAL_KEY,
    Finalist,
    FinalSelection,
    finalists,
    load_selection,
    pick_winner,
)
from nas.search.signals import critical, graceful_stop

# --- data -----------------------------------------------------------------------------


def supports(task: Task) -> bool:
    """Whether final selection can cut ``task``'s rows into folds: its splits carry no
    per-row extras (a pointer or TSP task keeps coordinates beside its targets)."""
    return not (task.train.extra or task.val.extra)


def pooled(task: Task) -> Split:
    """Train and validation rows together (both standardised with train statistics)."""
    return Split(torch.cat([task.train.x, task.val.x]), torch.cat([task.train.y, task.val.y]))


def fold_tasks(task: Task, k: int, seed: int) -> list[Task]:
    """``k`` copies of ``task``, each training on all pooled rows but one fold and
    validating on that fold (stratified by class for classification). Their test split
    is the fold too: cross-validation never reads the task's test rows."""
    from sklearn.model_selection import KFold, StratifiedKFold  # lazy: a 1 s import

    rows = pooled(task)
    labels = rows.y.numpy()
    if task.kind == "classification" and np.bincount(labels).min(initial=k) >= k:
        cuts = StratifiedKFold(k, shuffle=True, random_state=seed).split(labels, labels)
    else:
        cuts = KFold(k, shuffle=True, random_state=seed).split(labels)
    tasks = []
    for train_rows, held_rows in cuts:
        train = Split(rows.x[train_rows], rows.y[train_rows])
        held = Split(rows.x[held_rows], rows.y[held_rows])
        tasks.append(replace(task, train=train, val=held, test=held))
    return tasks


def full_task(task: Task) -> Task:
    """``task`` training on train + validation; it selects its epoch on those rows (no
    held-out row is left) and reports the real test split."""
    rows = pooled(task)
    return replace(task, train=rows, val=rows)


# --- training ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FinalSettings:
    """How finalists are trained: the search's epochs, per-run time limit, seed, device."""

    epochs: int
    trial_seconds: float | None
    seed: int
    device: str = "cpu"


def train_on(build: Callable[[], torch.nn.Module], task: Task, hparams: dict,
             settings: FinalSettings) -> tuple[float, float]:
    """Train a fresh model from ``build`` on ``task`` with ``hparams``: (val, test)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = build()
    result = train_model(model, task, HParams.from_dict(hparams),
                         Budget(settings.epochs, settings.trial_seconds),
                         device=settings.device, seed=settings.seed)
    return result.val_score, result.test_score


# --- the stage ----------------------------------------------------------------------------

class _Lab:
    """What one process needs to train finalists: the space, the task and its folds."""

    current: _Lab | None = None  # the pool process's own (set by its initializer)

    def __init__(self, space, task: Task, settings: FinalSettings, k: int):
        self.space, self.task, self.settings = space, task, settings
        self.folds = fold_tasks(task, k, settings.seed)

    @classmethod
    def of(cls, config: dict) -> _Lab:
        from bench.tasks import get_task
        from nas.search.config import SearchConfig
        from nas.space import load_space

        cfg = SearchConfig.from_dict(config)
        task = get_task(cfg.task, seed=cfg.seed, target=cfg.target, **cfg.task_options)
        return cls(load_space(cfg.grammar), task, settings_of(cfg), cfg.folds)

    def builder(self, arch_text: str):
        from nas.builder import build_model

        arch = self.space.parse(arch_text)
        return lambda: build_model(arch, self.space, self.task.input_shape, self.task.head)

    def fold_score(self, arch_text: str, hparams: dict, fold: int) -> tuple[float, float] | str:
        """(held-out score of ``fold``, seconds), or why its training failed."""
        started = time.perf_counter()
        try:
            val, _ = train_on(self.builder(arch_text), self.folds[fold], hparams, self.settings)
        except (NasError, RuntimeError, ValueError, MemoryError) as exc:
            return f"{type(exc).__name__}: {first_line(exc)}"
        if not math.isfinite(val):
            return f"non-finite held-out score {val}"
        return float(val), time.perf_counter() - started


def settings_of(cfg) -> FinalSettings:
    """The finalists' training settings of a :class:`~nas.search.config.SearchConfig`."""
    return FinalSettings(cfg.epochs, cfg.trial_seconds, cfg.seed, cfg.device)


def _init_process(config: dict) -> None:
    torch.set_num_threads(1)
    _Lab.current = _Lab.of(config)


def _fold_job(arch_text: str, hparams: dict, fold: int):
    return _Lab.current.fold_score(arch_text, hparams, fold)


Job = tuple[int, int]  # (finalist index, fold)


def run_folds(lab: _Lab, config: dict, workers: int, work: dict[Job, tuple[str, dict]],
              deadline: float | None, done: Callable[[Job, object], None]) -> bool:
    """Train every fold of ``work`` (``{(finalist, fold): (arch, hparams)}``, in order),
    in this process (``workers`` 1) or in a pool of spawned processes, calling
    ``done(job, result)`` as each ends. At ``deadline`` (``time.monotonic()``) what
    still runs is stopped. Returns whether every job ran."""
    if not work:
        return True
    if workers == 1 or len(work) == 1:
        for job, (arch, hparams) in work.items():
            if deadline is not None and time.monotonic() > deadline:
                return False
            done(job, lab.fold_score(arch, hparams, job[1]))
        return True
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    pool = ctx.Pool(min(workers, len(work)), _init_process, (config,))
    try:
        pending = {job: pool.apply_async(_fold_job, (arch, hparams, job[1]))
                   for job, (arch, hparams) in work.items()}
        while pending:
            if deadline is not None and time.monotonic() > deadline:
                return False
            for job in [j for j, r in pending.items() if r.ready()]:
                done(job, pending.pop(job).get())
            time.sleep(0.05)
        return True
    finally:
        pool.terminate()  # a fold past the deadline, or an interrupted one, is dropped
        pool.join()


def select_final(ctx, deadline: float | None = None,
                 note: Callable[[str], None] = lambda text: None) -> FinalSelection | None:
    """Run final selection over the study of ``ctx`` (a
    :class:`~nas.search.worker.SearchContext`) and record it in the study.

    ``deadline`` (``time.monotonic()``): finalists not scored by then are left out
    (``complete`` False); the winner's retraining is started only if its estimated time
    fits. Returns None when final selection is off (``--finalists 0``), the task's rows
    cannot be cut into folds, or nothing completed.

    Raises:
        Interrupted: SIGINT/SIGTERM; what was scored before is recorded first.
    """
    cfg = ctx.config
    chosen = finalists(ctx.study.history(), cfg.finalists) if cfg.finalists else []
    if not chosen:
        return None
    if not supports(ctx.task):
        note(f"final selection skipped: the rows of task {ctx.task.name} cannot be cut "
             "into folds")
        return None
    started = time.perf_counter()
    selection = _carried_over(load_selection(ctx.study), chosen, cfg.folds)
    selection.requested = cfg.finalists
    try:
        with graceful_stop():
            lab = _Lab(ctx.space, ctx.task, settings_of(cfg), cfg.folds)
            _score_finalists(ctx, lab, selection, deadline, note)
            _retrain_winner(ctx, lab, selection, deadline, note)
    finally:  # an interrupted stage keeps what it scored
        selection.final_seconds += time.perf_counter() - started
        with critical():
            ctx.study.set_study_attr(FINAL_KEY, selection.to_dict())
    return selection


def _carried_over(previous: FinalSelection | None, chosen: list, k: int) -> FinalSelection:
    """A selection over ``chosen`` that keeps what ``previous`` (same folds) scored."""
    same = previous is not None and previous.folds == k
    done = {f.arch_id: f for f in previous.finalists if f.scored} if same else {}
    selection = FinalSelection(k, [done.get(r.arch_id) or Finalist.of(r) for r in chosen])
    if same and previous.final_test_score is not None:  # kept while it still wins
        selection.winner_arch_id = previous.winner_arch_id
        selection.final_test_score = previous.final_test_score
    return selection


def _score_finalists(ctx, lab: _Lab, selection: FinalSelection, deadline: float | None,
                     note) -> None:
    """Cross-validate the finalists not scored yet, best first; pick the winner."""
    cfg, k = ctx.config, selection.folds
    pending = [i for i, f in enumerate(selection.finalists) if not f.scored]
    planned = pending if deadline is None else plan_folds(
        selection, pending, cfg.workers, deadline - time.monotonic())
    if len(planned) < len(pending):
        selection.complete = False
        selection.note = (f"{len(pending) - len(planned)} finalist(s) left out: their folds "
                          "would not end before the time limit")
        note(f"final selection: {selection.note}")
    work = {(i, fold): (selection.finalists[i].arch, selection.finalists[i].hparams)
            for i in planned for fold in range(k)}
    if work:
        note(f"final selection: {len(planned)} finalist(s) x {k} folds of train + "
             f"validation, {cfg.workers} worker(s)")
    scores: dict[int, dict[int, float]] = {}

    def done(job: Job, result) -> None:
        i, fold = job
        entry = selection.finalists[i]
        if isinstance(result, str):
            entry.fail_reason = entry.fail_reason or result
            return
        scores.setdefault(i, {})[fold] = result[0]
        entry.cv_seconds += result[1]
        if len(scores[i]) == k and entry.fail_reason is None:
            entry.fold_scores = [scores[i][f] for f in range(k)]
            note(f"finalist {entry.arch_id} (val {entry.val_score:.4f}): cross-validated "
                 f"{entry.cv_score:.4f}")

    contenders = [f for i, f in enumerate(selection.finalists) if f.scored or i in planned]
    cv_deadline = None if deadline is None else deadline - _retrain_estimate(contenders)
    if not run_folds(lab, cfg.to_dict(), cfg.workers, work, cv_deadline, done):
        selection.complete = False
        selection.note = "the time limit ended cross-validation before every finalist"
    pick_winner(selection, ctx.task.higher_is_better)


#: rows a training run sees with train + validation pooled, against train alone (1,438
#: against 1,168 on digits: 1.23)
POOLED_ROWS = 1.25


def plan_folds(selection: FinalSelection, pending: list[int], workers: int,
               seconds: float) -> list[int]:
    """The finalists of ``pending`` (indices, best by validation first) whose folds fit
    in ``seconds`` on ``workers`` processes, keeping the winner's retraining time: the
    longest prefix that fits, estimated from each finalist's run time in the search.

    A fold trains on (k-1)/k of train + validation. ``workers`` processes finish a set of
    runs within total / workers + the longest (list scheduling). One finalist alone is
    not a choice, so a plan that would leave a single contender plans none: the best by
    validation then stands (stop 25: 5 x 5 folds of 15-35 s runs did not fit in 15% of 20
    minutes, and none was scored).
    """
    k = selection.folds
    fold_share = POOLED_ROWS * (k - 1) / k
    scored = [f for f in selection.finalists if f.scored]
    plan: list[int] = []
    for i in pending:
        chosen = [selection.finalists[j] for j in [*plan, i]]
        runs = [fold_share * f.run_seconds for f in chosen for _ in range(k)]
        needed = sum(runs) / workers + max(runs) + _retrain_estimate([*scored, *chosen])
        if needed > seconds:
            break
        plan.append(i)
    return plan if len(scored) + len(plan) >= 2 else []


def _retrain_allowance(run_seconds: float) -> float:
    """Seconds a run of ``run_seconds`` on train alone may take as the winner's retraining
    on train + validation: :data:`POOLED_ROWS` times the rows, half as much again for
    safety."""
    return 1.5 * POOLED_ROWS * run_seconds


def _retrain_estimate(contenders: list[Finalist]) -> float:
    """Seconds to keep for the winner's retraining (any of ``contenders`` may win)."""
    return _retrain_allowance(max((f.run_seconds for f in contenders), default=0.0))


def retrain_settings(settings: FinalSettings, deadline: float | None) -> FinalSettings:
    """``settings`` for the winner's retraining on train + validation: the search's limit
    per run scaled to the rows it sees (:func:`_retrain_allowance`), and never past
    ``deadline`` (a ``time.monotonic()`` time). The winner trained within the limit on
    train alone; held to it on more rows, a winner near the limit was projected over it
    after one epoch and its retraining failed (stop 27, mnist1d: 47 s in the search, 60 s
    limit, a first epoch of 4.9 s on train + validation)."""
    seconds = settings.trial_seconds and _retrain_allowance(settings.trial_seconds)
    if deadline is not None:
        left = max(deadline - time.monotonic(), 1.0)  # a budget must be positive
        seconds = min(seconds, left) if seconds else left
    return replace(settings, trial_seconds=seconds)


def _retrain_winner(ctx, lab: _Lab, selection: FinalSelection, deadline: float | None,
                    note) -> None:
    """Train the winner on train + validation and score it on test (once per winner)."""
    winner = selection.winner_entry
    if winner is None:
        note("final selection: no finalist was cross-validated; the best by validation "
             "stands")
        return
    if selection.final_test_score is not None:
        return
    estimate = POOLED_ROWS * winner.run_seconds
    if deadline is not None and time.monotonic() + estimate > deadline:
        selection.note = "no time was left to retrain the winner on train + validation"
        note(f"final selection: {selection.note}")
        return
    try:
        _, test = train_on(lab.builder(winner.arch), full_task(ctx.task), winner.hparams,
                           retrain_settings(lab.settings, deadline))
    except (NasError, RuntimeError, ValueError, MemoryError) as exc:
        selection.note = f"retraining the winner failed: {first_line(exc)}"
        note(f"final selection: {selection.note}")
        return
    selection.final_test_score = float(test)
    note(f"final selection: {winner.arch_id} wins (cross-validated "
         f"{winner.cv_score:.4f}); retrained on train + validation: test {test:.4f}")
