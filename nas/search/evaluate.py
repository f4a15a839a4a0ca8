"""Evaluate one architecture: tune and train it, then export it to the ONNX-Bench store.

The result is the set of trial user_attrs of docs/SCHEMA.md ("Outer search study"). A
training failure (every inner trial failed: NaN loss, timeout, out of memory) is an
outcome, not an error: it carries ``fail_reason`` and the search goes on. A failure to
export or store the trained model never loses the evaluation: the trial still completes
and carries ``store_error``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.training import Budget
from bench.tuning import tune_architecture
from nas import __version__
from nas.architecture import Architecture
from nas.builder import build_model
from nas.errors import ArchitectureError, NasError, TrainingError, first_line
from nas.export import ExportDeferred, export_onnx


@dataclass
class Outcome:
    """What one evaluation produced: ``value`` (None when it failed), user_attrs, and the
    trained model (the best inner trial's weights) to export."""

    value: float | None
    attrs: dict = field(default_factory=dict)
    model: object | None = field(default=None, repr=False)
    pruned: bool = False  # stopped at a rung of successive halving (nas.search.fidelity)

    @property
    def failed(self) -> bool:
        return self.value is None


def evaluate(ctx, arch: Architecture, *, trial_number: int, judge=None) -> Outcome:
    """Tune and train ``arch`` with the search context ``ctx`` (export: :func:`export`).

    ``ctx`` is a :class:`nas.search.worker.SearchContext` (config, space, task, store).
    ``judge``: a :class:`~nas.search.fidelity.RungJudge` that may stop the first
    training run at a rung; the outcome is then ``pruned`` (its score at that rung, no
    model to export).
    Returns an :class:`Outcome`; raises only on interruption (KeyboardInterrupt).
    """
    cfg, task = ctx.config, ctx.task
    attrs = _base_attrs(ctx, arch)
    try:
        info = ctx.space.check(arch, task.input_shape, task.head)
    except ArchitectureError as exc:
        return Outcome(None, {**attrs, "fail_reason": f"architecture does not fit: {exc}"})
    # the analytic counts, head included, are exactly what the store will count from the
    # exported graph (tests/nas/test_cost_figures.py); export records the store's anyway
    attrs.update(params=int(info.params), macs=int(info.macs))
    models = []

    def build():
        models.append(build_model(arch, ctx.space, task.input_shape, task.head))
        return models[-1]

    try:
        tuned = tune_architecture(
            build, task, n_trials=cfg.tune_trials, seed=cfg.seed, device=cfg.device,
            budget=Budget(max_epochs=cfg.epochs, max_seconds=cfg.trial_seconds),
            first_run_hook=judge)
    except TrainingError as exc:
        return Outcome(None, {**attrs, "fail_reason": f"training failed: {exc}"})
    except (NasError, RuntimeError, ValueError, MemoryError) as exc:
        return Outcome(None, {**attrs, "fail_reason": f"{type(exc).__name__}: {exc}"})
    if not math.isfinite(tuned.best_val):
        return Outcome(None, {**attrs, "fail_reason": f"non-finite score {tuned.best_val}"})
    attrs.update(
        val_score=float(tuned.best_val), test_score=float(tuned.test_score),
        val_loss=float(tuned.val_loss),
        hparams=tuned.best_hparams, train_seconds=round(tuned.seconds, 3),
        epochs=int(tuned.epochs), inner_trials=tuned.n_trials,
        inner_failed=tuned.n_failed, inner_pruned=tuned.n_pruned)
    if judge is not None:
        attrs["rungs"] = dict(judge.scores)
        if tuned.stopped_early:
            attrs["stopped_at_rung"] = judge.stopped_at
            return Outcome(float(tuned.best_val), attrs, None, pruned=True)
    return Outcome(float(tuned.best_val), attrs, models[_best_index(tuned)])


def _base_attrs(ctx, arch: Architecture) -> dict:
    cfg, task = ctx.config, ctx.task
    # settings and data per trial too, so that the history itself shows how each score
    # was made (the study refuses to mix, see study.py; older studies may have mixed)
    return {"arch": str(arch), "arch_id": arch.id, "grammar": ctx.space.name,
            "grammar_hash": ctx.space.hash, "task": task.name, "metric": task.metric,
            "strategy": cfg.strategy, "seed": cfg.seed, "settings": cfg.score_settings(),
            "data": ctx.data, "platform_version": __version__}


def _best_index(tuned) -> int:
    """Position (in build order) of the inner trial ``tune_architecture`` picked: the
    completed trial with the best validation score and validation loss, the earliest on
    ties."""
    for i, record in enumerate(tuned.trials):
        if (record["state"] == "COMPLETE" and record["val_score"] == tuned.best_val
                and record["val_loss"] == tuned.val_loss
                and record["test_score"] == tuned.test_score):
            return i
    raise AssertionError("tune_architecture's best trial is not among its trials")


def export(ctx, outcome: Outcome, trial_number: int) -> dict:
    """Export the outcome's trained model to the store: ``{"onnx_path": ...}``, or
    ``{"store_error": ...}`` when export or store fails (the evaluation stands), or
    nothing when there is no store or no model."""
    if ctx.store is None or outcome.model is None:
        return {}

    attrs, model = outcome.attrs, outcome.model
    # params and macs are left to the store, which counts them from the exported graph
    keys = ("arch_id", "arch", "grammar", "grammar_hash", "task", "metric", "val_score",
            "test_score", "train_seconds", "epochs", "hparams", "seed",
            "strategy", "predicted_score")
    # the store refuses non-finite numbers; a test score that diverged is left out
    record = {k: attrs[k] for k in keys if attrs.get(k) is not None
              and not (isinstance(attrs[k], float) and not math.isfinite(attrs[k]))}
    record.update(study=ctx.study_name, trial_number=trial_number)
    try:
        proto = export_onnx(model.cpu(), ctx.task.input_shape).model
        stored = ctx.store.add(proto, record, latency=True)
    except ExportDeferred:  # a background export: its worker exports it again inline
        raise
    except Exception as exc:  # export and store failures must not lose the evaluation
        return {"store_error": f"{type(exc).__name__}: {first_line(exc)}"}
    # the study shows the stored figures: one number per architecture everywhere
    return {"onnx_path": stored["onnx_path"], "params": stored["params"], "macs": stored["macs"]}
