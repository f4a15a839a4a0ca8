"""Per-architecture tuning: best-val selection, test of that trial, failures, determinism."""

import time

import optuna
import pytest
import torch
from torch import nn

from bench.tasks import get_task
from bench.training import Budget, HParams
from bench.tuning import HParamSpace, tune_architecture
from nas.errors import TrainingError

torch.set_num_threads(1)


def small_mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def nan_mlp():
    model = small_mlp()
    with torch.no_grad():
        model[1].weight.fill_(float("nan"))
    return model


def test_test_score_belongs_to_the_best_validation_trial():
    task = get_task("digits")
    result = tune_architecture(small_mlp, task, n_trials=6, seed=0, budget=Budget(max_epochs=3))
    assert result.n_trials == 6 == len(result.trials)
    done = [t for t in result.trials if t["state"] == "COMPLETE"]
    assert len(done) + result.n_pruned + result.n_failed == 6
    best = max(done, key=lambda t: t["val_score"])
    assert result.best_val == best["val_score"]
    assert result.test_score == best["test_score"]
    assert result.best_hparams == best["hparams"] and result.epochs == best["epochs"]
    assert result.best_val >= 0.85
    assert HParams.from_dict(result.best_hparams)  # stored hparams rebuild
    # the first trial runs the default configuration
    assert result.trials[0]["hparams"] == HParams().to_dict()


def test_tuning_is_deterministic_by_seed():
    task = get_task("wine")
    build = lambda: nn.Sequential(nn.Linear(13, 16), nn.ReLU(), nn.Linear(16, 3))  # noqa: E731
    runs = [tune_architecture(build, task, n_trials=4, seed=7, budget=Budget(max_epochs=2))
            for _ in range(2)]
    strip = [[{k: v for k, v in t.items() if k != "seconds"} for t in r.trials] for r in runs]
    assert strip[0] == strip[1]


def test_regression_direction_minimises():
    task = get_task("feynman-I.6.2")
    build = lambda: nn.Sequential(nn.Linear(2, 32), nn.SiLU(), nn.Linear(32, 1))  # noqa: E731
    result = tune_architecture(build, task, n_trials=3, seed=0, budget=Budget(max_epochs=2))
    done = [t for t in result.trials if t["state"] == "COMPLETE"]
    assert result.best_val == min(t["val_score"] for t in done)


def test_failed_trials_are_recorded_not_raised():
    calls = []

    def sometimes_broken():
        calls.append(1)
        return nan_mlp() if len(calls) == 2 else small_mlp()

    result = tune_architecture(sometimes_broken, get_task("digits"), n_trials=3, seed=0,
                               budget=Budget(max_epochs=2))
    assert result.n_failed == 1 and result.trials[1]["state"] == "FAIL"
    assert "trial 1" in result.fail_reasons[0] and "nan" in result.fail_reasons[0]


def test_all_failed_raises_with_the_reasons():
    with pytest.raises(TrainingError, match="all 2 tuning trials failed.*loss became nan"):
        tune_architecture(nan_mlp, get_task("digits"), n_trials=2, seed=0,
                          budget=Budget(max_epochs=1))


def test_pruning_counts_and_custom_space():
    import optuna

    space = HParamSpace(optimizers=("sgd",), sgd_lr=(1e-6, 1e-5), grad_noise=False,
                        default=HParams(optimizer="sgd", lr=0.1))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    with pytest.warns(UserWarning, match="out of range"):  # the default lies outside on purpose
        result = tune_architecture(small_mlp, get_task("digits"), n_trials=4, seed=0,
                                   budget=Budget(max_epochs=3), space=space, pruner=pruner)
    # trial 0 (lr 0.1) learns; the tiny learning rates of the others cannot keep up
    assert result.trials[0]["state"] == "COMPLETE"
    assert result.n_pruned == 3
    assert all(t["epochs"] == 1 for t in result.trials[1:])
    assert result.best_hparams["lr"] == 0.1


def test_timeout_stops_starting_trials():
    def slow_mlp():  # every trial outlasts the timeout, however fast the machine trains
        time.sleep(0.3)
        return small_mlp()

    result = tune_architecture(slow_mlp, get_task("digits"), n_trials=50, seed=0,
                               budget=Budget(max_epochs=1), timeout=0.2)
    assert result.n_trials == 1


def test_the_first_trials_step_the_learning_rate_around_the_default():
    task = get_task("digits")
    result = tune_architecture(small_mlp, task, n_trials=3, seed=0, budget=Budget(max_epochs=1),
                               pruner=optuna.pruners.NopPruner())
    lrs = [t["hparams"]["lr"] for t in result.trials]
    assert lrs == pytest.approx([1e-3, 3e-3, 1e-3 / 3])
    assert {t["hparams"]["optimizer"] for t in result.trials} == {"adamw"}
    # kept inside the optimizer's range
    space = HParamSpace(adamw_lr=(5e-4, 2e-3))
    assert [p["adamw_lr"] for p in space.starting_points(1000)] == [1e-3, 2e-3, 5e-4]
