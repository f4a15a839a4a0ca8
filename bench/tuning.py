"""Per-architecture hyperparameter tuning: one small in-memory Optuna study each.

    from bench.tuning import tune_architecture
    result = tune_architecture(lambda: build_model(arch, space, shape, head), task,
                               n_trials=4, seed=0, budget=Budget(max_epochs=8))
    result.best_val, result.test_score, result.best_hparams

The study samples with a seeded TPE sampler and prunes on the per-epoch validation score
(median pruner); its direction is the task's. The first trial always runs the default
hyperparameters (``HParamSpace.default``), so even a one-trial study tries a known-good
configuration; the next two run it with the learning rate x3 and /3 (the learning rate
matters most, and a few TPE start-up draws rarely land near a good one). Every trial
builds a fresh model under the same torch seed, so trials differ by their
hyperparameters only (common random numbers). The architecture's score
is the best validation score over the completed trials; ``test_score`` is the test score
of that very trial, recorded for reporting and never used to choose anything.

A trial that fails (:class:`~nas.errors.TrainingError`: NaN loss, timeout, out of
memory...) is recorded as failed with its reason and the study goes on; only when every
trial fails does :func:`tune_architecture` raise, with the reasons.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import optuna
import torch
from optuna.trial import TrialState
from torch import nn

from bench.tasks.base import Task
from bench.training import Budget, HParams, train_model
from nas.errors import TrainingError


@dataclass(frozen=True)
class HParamSpace:
    """The search space of the tuner (ranges are log-uniform).

    Learning-rate ranges differ by optimizer (SGD tolerates and needs larger steps).
    Gradient noise is a tuned on/off choice; when on, eta is drawn from
    ``grad_noise_eta``. The task's augmentation, where it declares one, is another on/off
    choice; the default trial turns it on for runs of at least ``augment_min_epochs``
    epochs only (on 8x8 digits a small CNN loses 2-5% accuracy to it in a 5-epoch run and
    gains about 1% from 20 epochs on). Batch sizes larger than the training set are left out.
    """

    optimizers: tuple[str, ...] = ("adamw", "sgd")
    adamw_lr: tuple[float, float] = (1e-4, 1e-2)
    sgd_lr: tuple[float, float] = (1e-3, 0.3)
    weight_decay: tuple[float, float] = (1e-6, 1e-2)
    batch_sizes: tuple[int, ...] = (32, 64, 128, 256)
    grad_noise: bool = True
    grad_noise_eta: tuple[float, float] = (0.01, 1.0)
    augment: bool = True  # offer the task's augmentation, when it has one, as a choice
    augment_min_epochs: int = 20  # shortest run whose default trial augments
    lr_steps: tuple[float, ...] = (3.0, 1 / 3)  # learning-rate factors of trials 2, 3...
    default: HParams = field(default_factory=HParams)

    def suggest(self, trial, n_train: int, augmentable: bool = False) -> HParams:
        """Draw one configuration from ``trial`` (an Optuna trial); ``augment`` is a
        choice only when the task declares an augmentation (``augmentable``)."""
        optimizer = trial.suggest_categorical("optimizer", list(self.optimizers))
        low, high = self.adamw_lr if optimizer == "adamw" else self.sgd_lr
        lr = trial.suggest_float(f"{optimizer}_lr", low, high, log=True)
        weight_decay = trial.suggest_float("weight_decay", *self.weight_decay, log=True)
        batch_size = trial.suggest_categorical("batch_size", self.batch_choices(n_train))
        eta = 0.0
        if self.grad_noise and trial.suggest_categorical("grad_noise", [False, True]):
            eta = trial.suggest_float("grad_noise_eta", *self.grad_noise_eta, log=True)
        augment = self.augment and augmentable and trial.suggest_categorical(
            "augment", [True, False])
        return HParams(lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                       optimizer=optimizer, grad_noise=eta, augment=bool(augment),
                       momentum=self.default.momentum, grad_clip=self.default.grad_clip)

    def batch_choices(self, n_train: int) -> list[int]:
        """Batch sizes that fit in ``n_train`` rows (the smallest one if none does)."""
        return [b for b in self.batch_sizes if b <= n_train] or [min(self.batch_sizes)]

    def default_params(self, n_train: int, augmentable: bool = False, epochs: int = 0) -> dict:
        """The default configuration as Optuna parameters (to enqueue as trial 0), for a
        run of ``epochs`` epochs."""
        hp = self.default
        sizes = self.batch_choices(n_train)
        batch_size = hp.batch_size if hp.batch_size in sizes else sizes[-1]
        params = {"optimizer": hp.optimizer, f"{hp.optimizer}_lr": hp.lr,
                  "weight_decay": hp.weight_decay, "batch_size": batch_size}
        if self.grad_noise:
            params["grad_noise"] = hp.grad_noise > 0
            if hp.grad_noise > 0:
                params["grad_noise_eta"] = hp.grad_noise
        if self.augment and augmentable:
            params["augment"] = hp.augment or epochs >= self.augment_min_epochs
        return params

    def starting_points(self, n_train: int, augmentable: bool = False,
                        epochs: int = 0) -> list[dict]:
        """The first trials, in order: the default configuration, then the same with its
        learning rate scaled by each of ``lr_steps`` (kept inside the optimizer's range)."""
        default = self.default_params(n_train, augmentable, epochs)
        key = f"{self.default.optimizer}_lr"
        low, high = self.adamw_lr if self.default.optimizer == "adamw" else self.sgd_lr
        return [default] + [{**default, key: min(high, max(low, default[key] * step))}
                            for step in self.lr_steps]


@dataclass
class TuneResult:
    """Outcome of :func:`tune_architecture`.

    ``best_val``/``val_loss``/``test_score``/``best_hparams``/``epochs`` belong to the
    completed trial with the best validation score (the lower validation loss on ties);
    ``seconds`` is the wall time of the whole study;
    ``trials`` has one dict per trial (number, state, val_score, test_score, hparams,
    epochs, seconds, reason).
    """

    best_val: float
    test_score: float
    best_hparams: dict
    epochs: int
    seconds: float
    n_trials: int
    n_pruned: int
    n_failed: int
    fail_reasons: list[str] = field(default_factory=list)
    trials: list[dict] = field(default_factory=list)
    val_loss: float = math.nan

    @property
    def stopped_early(self) -> bool:
        """Whether the first run's ``first_run_hook`` ended the tuning early."""
        return bool(self.trials) and bool(self.trials[0].get("stopped_early"))


def tune_architecture(build_fn: Callable[[], nn.Module], task: Task, *, n_trials: int,
                      seed: int = 0, budget: Budget | None = None, device: str = "cpu",
                      space: HParamSpace | None = None, pruner=None,
                      timeout: float | None = None,
                      first_run_hook: Callable[[int, float], bool] | None = None
                      ) -> TuneResult:
    """Tune the training hyperparameters of one architecture; see the module docstring.

    Args:
        build_fn: returns a fresh, untrained model (called once per trial, under
            ``torch.manual_seed(seed)``).
        task: the task to train on; its direction sets the study's.
        n_trials: trials to run (pruned and failed ones count).
        seed: seeds the sampler, the model init and the training order.
        budget: per-trial budget (default ``Budget()``).
        device: passed to :func:`bench.training.train_model`.
        space: the search space (default :class:`HParamSpace`).
        pruner: an Optuna pruner (default: median pruner after 2 complete trials and
            1 warm-up epoch).
        timeout: seconds after which no new trial starts (the running one finishes).
        first_run_hook: ``on_epoch`` of the first trial (the default hyperparameters,
            :func:`bench.training.train_model`); when it stops that run early, no other
            trial runs (the architecture did not earn them; ``TuneResult.stopped_early``).

    Returns:
        TuneResult.

    Raises:
        TrainingError: every trial failed (the message lists the reasons).
    """
    if n_trials < 1:
        raise ValueError("n_trials must be at least 1")
    budget, space = budget or Budget(), space or HParamSpace()
    started = time.perf_counter()
    with _quiet_optuna():
        study = optuna.create_study(
            direction=task.direction,
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=_startup(n_trials)),
            pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
        )
        for params in space.starting_points(len(task.train), task.augmentation is not None,
                                            budget.max_epochs)[:n_trials]:
            study.enqueue_trial(params)
        records = []
        for i in range(n_trials):
            if timeout is not None and time.perf_counter() - started > timeout:
                break
            hook = first_run_hook if i == 0 else None
            records.append(_run_trial(study, build_fn, task, space, budget, device, seed, hook))
            if records[-1].get("stopped_early"):
                break
    return _summarise(records, task, time.perf_counter() - started)


def _run_trial(study, build_fn, task: Task, space: HParamSpace, budget: Budget,
               device: str, seed: int, on_epoch=None) -> dict:
    """Ask, train, tell: one trial as a record dict (state COMPLETE, PRUNED or FAIL)."""
    trial = study.ask()
    hp = space.suggest(trial, len(task.train), task.augmentation is not None)
    record = {"number": trial.number, "hparams": hp.to_dict(), "val_score": None,
              "test_score": None, "epochs": 0, "seconds": 0.0, "reason": ""}
    t0 = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_fn()
        result = train_model(model, task, hp, budget, trial=trial, device=device, seed=seed,
                             on_epoch=on_epoch)
    except optuna.TrialPruned as exc:
        frozen = study.tell(trial, state=TrialState.PRUNED)
        record.update(state="PRUNED", reason=str(exc), epochs=len(frozen.intermediate_values))
    except TrainingError as exc:
        study.tell(trial, state=TrialState.FAIL)
        record.update(state="FAIL", reason=str(exc))
    else:
        study.tell(trial, result.val_score)
        record.update(state="COMPLETE", val_score=result.val_score,
                      val_loss=result.val_loss, test_score=result.test_score,
                      epochs=result.epochs,
                      stopped_early=result.stopped_early)
    record["seconds"] = time.perf_counter() - t0
    return record


def _summarise(records: list[dict], task: Task, seconds: float) -> TuneResult:
    """Pick the completed trial with the best validation score (test plays no part)."""
    done = [r for r in records if r["state"] == "COMPLETE"]
    failed = [r for r in records if r["state"] == "FAIL"]
    reasons = [f"trial {r['number']}: {r['reason']}" for r in failed]
    if not done:
        raise TrainingError(f"all {len(records)} tuning trials failed or were pruned: "
                            + ("; ".join(reasons) or "no trial completed"))
    sign = 1 if task.higher_is_better else -1
    # equal scores (frequent on a small validation split): the lower validation loss
    best = max(done, key=lambda r: (sign * r["val_score"], -r["val_loss"]))
    return TuneResult(
        best_val=best["val_score"], val_loss=best["val_loss"], test_score=best["test_score"],
        best_hparams=best["hparams"], epochs=best["epochs"], seconds=seconds,
        n_trials=len(records), n_pruned=sum(r["state"] == "PRUNED" for r in records),
        n_failed=len(failed), fail_reasons=reasons, trials=records)


def _startup(n_trials: int) -> int:
    """Random trials before TPE takes over: a third of the budget, within [2, 10]."""
    return min(10, max(2, math.ceil(n_trials / 3)))


@contextmanager
def _quiet_optuna():
    """Silence Optuna's per-trial INFO lines for these throwaway inner studies."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)
