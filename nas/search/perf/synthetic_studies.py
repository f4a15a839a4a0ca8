"""Synthetic search results with the documented schema, for ``nas perf leaderboard`` and
the leaderboard tests.

The scores are made up (a noisy function of the parameter count); everything else -- the
user_attrs, the journal storage, the store index columns -- is the real format.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

_OPS = ("linear(64)", "linear(128)", "leaky_relu", "norm", "softmax", "identity",
        "routing(im2col(3,1,1),linear(32),col2im)", "clone2{linear(16),identity}add")


def synthetic_trials(n: int, seed: int = 0, task: str = "mnist1d", metric: str = "accuracy",
                     grammars: tuple[str, ...] = ("einspace", "kan", "ffn"),
                     strategy: str = "random", fail_every: int = 0,
                     start: datetime | None = None) -> list:
    """``n`` finished Optuna trials carrying the schema's user_attrs (docs/SCHEMA.md).

    Every ``fail_every``-th trial (when > 0) fails with a ``fail_reason``. Scores are in
    (0, 1) for ``accuracy`` metrics; any other metric gets RMSE-like positive values.
    """
    rng = np.random.default_rng(seed)
    clock = start or datetime(2025, 1, 1, 12, 0, 0)
    trials = []
    for i in range(n):
        attrs = _attrs(rng, i, task, metric, grammars, strategy, seed)
        began, clock = clock, clock + timedelta(seconds=float(attrs["train_seconds"]) + 0.5)
        if fail_every and (i + 1) % fail_every == 0:
            trial = optuna.trial.create_trial(
                state=optuna.trial.TrialState.FAIL,
                user_attrs={k: attrs[k] for k in ("arch", "arch_id", "grammar", "task",
                                                  "strategy", "seed")}
                | {"fail_reason": "TrainingError: loss became NaN at epoch 2"})
        else:
            trial = optuna.trial.create_trial(value=attrs["val_score"], user_attrs=attrs)
        trial.datetime_start, trial.datetime_complete = began, clock
        trials.append(trial)
    return trials


def _attrs(rng, i: int, task: str, metric: str, grammars, strategy: str, seed: int) -> dict:
    grammar = grammars[i % len(grammars)]
    arch = f"{grammar}:" + ",".join(rng.choice(_OPS, size=int(rng.integers(2, 7))))
    arch += f"#{i}"  # distinct strings: one architecture per trial unless made to repeat
    params = int(10 ** rng.uniform(3, 6))
    quality = 1 / (1 + np.exp(-(np.log10(params) - 3.8))) * 0.9 + rng.normal(0, 0.05)
    quality = float(np.clip(quality, 0.05, 0.99))
    val = quality if "accuracy" in metric else float(1.5 * (1 - quality) + 0.05)
    return {
        "arch": arch, "arch_id": hashlib.sha256(arch.encode()).hexdigest()[:12],
        "grammar": grammar,
        "grammar_hash": hashlib.sha256(grammar.encode()).hexdigest()[:12],
        "task": task, "metric": metric, "val_score": val,
        "test_score": float(val + rng.normal(0, 0.01)), "params": params,
        "macs": params * int(rng.integers(1, 40)),
        "hparams": {"lr": float(round(10 ** rng.uniform(-4, -1), 6)),
                    "weight_decay": float(round(10 ** rng.uniform(-6, -3), 8)),
                    "batch_size": int(rng.choice([64, 128, 256]))},
        "train_seconds": float(round(rng.uniform(2, 30), 2)), "epochs": int(rng.integers(2, 9)),
        "strategy": strategy,
        **({"predicted_score": float(val + rng.normal(0, 0.03))}
           if strategy == "predictor" else {}),
        "onnx_path": f"{grammar}/{task}/{hashlib.sha256(arch.encode()).hexdigest()[:12]}.onnx",
        "seed": seed * 100_000 + i,
    }


def write_study(storage_path: str | Path, trials: list, study_name: str = "demo",
                direction: str = "maximize", user_attrs: dict | None = None):
    """Write ``trials`` into a new study in an Optuna journal file; returns the study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = optuna.storages.journal.JournalFileBackend(str(storage_path))
    study = optuna.create_study(storage=optuna.storages.JournalStorage(backend),
                                study_name=study_name, direction=direction)
    for key, value in (user_attrs or {}).items():
        study.set_user_attr(key, value)
    study.add_trials(trials)
    return study


def store_index(trials: list, seed: int = 0, study: str = "demo",
                higher_is_better: bool = True) -> pd.DataFrame:
    """The store index rows (docs/SCHEMA.md columns) of the completed ``trials``."""
    rng = np.random.default_rng(seed + 1)
    rows = []
    for t in trials:
        if t.state != optuna.trial.TrialState.COMPLETE:
            continue
        a = t.user_attrs
        rows.append({
            **{k: a.get(k) for k in ("arch_id", "arch", "grammar", "grammar_hash", "task",
                                     "metric", "val_score", "test_score", "params", "macs",
                                     "train_seconds", "epochs", "seed", "onnx_path",
                                     "strategy", "predicted_score")},
            "higher_is_better": higher_is_better,
            "latency_ms": float(round(a["macs"] / 2e5 * rng.uniform(0.8, 1.5) + 0.05, 4)),
            "hparams": json.dumps(a.get("hparams"), sort_keys=True), "exporter": "torch.onnx",
            "opset": 18, "platform_version": "0.1.0",
            "created_at": (t.datetime_complete or datetime(2025, 1, 1)).replace(
                tzinfo=timezone.utc).isoformat(),
            "study": study, "trial_number": t.number, "source": "nas",
        })
    return pd.DataFrame(rows)
