"""The leaderboard data: ranked rows, the evaluation history and what produced them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

import nas
from bench.leaderboard.pareto import pareto_mask
from bench.leaderboard.references import PublishedFigure, published_figures
from bench.leaderboard.runs import resolve_run
from bench.leaderboard.sources import (
    TRIAL_ATTRS,
    StudyData,
    hparams_text,
    load_store_index,
    load_study,
    unwrap_study,
)
from nas.durations import format_duration
from nas.errors import LeaderboardError

#: columns of :func:`leaderboard_frame`, in order (docs/leaderboard.md describes each)
COLUMNS = (
    "rank", "arch_id", "grammar", "arch", "val_score", "test_score", "params", "macs",
    "latency_ms", "train_seconds", "epochs", "hparams", "predicted_score", "strategy",
    "origin", "onnx_path", "pareto_params", "pareto_latency", "evaluations", "trial_number", "seed",
    "task", "metric", "grammar_hash",
)
#: columns of :attr:`Leaderboard.history`
HISTORY_COLUMNS = (
    "run", "strategy", "evaluation", "trial_number", "state", "val_score", "best_so_far",
    "elapsed_s", "train_seconds", "grammar",
)
_INTS = ("params", "macs", "epochs", "seed", "trial_number")
_FLOATS = ("val_score", "val_loss", "test_score", "latency_ms", "train_seconds",
           "predicted_score")
_STORE_EXTRAS = ("latency_ms", "onnx_path", "platform_version", "exporter", "opset")
# metric names whose lower values are better, when neither study nor store says
_LOWER_IS_BETTER = ("rmse", "mse", "mae", "loss", "error", "tour", "length")


@dataclass
class Leaderboard:
    """Everything a renderer needs.

    Attributes:
        rows: ranked rows, one per architecture (:data:`COLUMNS`).
        history: one row per finished evaluation in completion order (:data:`HISTORY_COLUMNS`).
        task, metric, maximize: what is ranked and in which direction.
        references: published figures for the task (never ranked with ``rows``).
        reproducibility: label -> text (platform version, grammar hashes, seeds, budgets).
        counts: finished / completed / failed / pruned evaluations.
        store_root: the store root ``onnx_path`` is relative to (None if unknown).
        label: a short name for titles and comparisons (the run or study name).
    """

    rows: pd.DataFrame
    history: pd.DataFrame
    task: str | None
    metric: str
    maximize: bool
    references: list[PublishedFigure] = field(default_factory=list)
    reproducibility: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    store_root: Path | None = None
    label: str = "leaderboard"


def leaderboard_frame(study=None, storage=None, store=None, task: str | None = None,
                      grammar: str | None = None, run=None) -> pd.DataFrame:
    """The ranked leaderboard as a DataFrame (see :func:`load_leaderboard` for arguments).

    ``frame.attrs`` carries ``task``, ``metric``, ``higher_is_better`` and
    ``reproducibility``.
    """
    board = load_leaderboard(study=study, storage=storage, store=store, task=task,
                             grammar=grammar, run=run)
    frame = board.rows.copy()
    frame.attrs = {"task": board.task, "metric": board.metric,
                   "higher_is_better": board.maximize,
                   "reproducibility": dict(board.reproducibility)}
    return frame


def load_leaderboard(study=None, storage=None, store=None, task: str | None = None,
                     grammar: str | None = None, run=None, label: str | None = None
                     ) -> Leaderboard:
    """Rank the evaluated architectures of a study and/or a store.

    Args:
        study: outer study name (or an ``optuna.Study``); optional when the storage
            holds one outer study.
        storage: Optuna storage URL, journal or SQLite file path.
        store: store root, index file, or the index as a DataFrame. With a study, it
            only adds columns (latency, ONNX path) to the study's rows.
        task, grammar: keep only these rows (``task`` is needed when several tasks mix).
        run: a run directory; supplies whichever of storage/study/store is not given.
        label: name used in titles; defaults to the run, study or store name.

    Raises:
        LeaderboardError: nothing to read, nothing evaluated, only failures, mixed tasks.
    """
    storage, study = unwrap_study(study, storage)
    optional_store = run is not None and store is None
    if run is not None:
        paths = resolve_run(run)
        storage = storage if storage is not None else paths.storage
        study = study if study is not None else paths.study
        store = store if store is not None else paths.store
        label = label or paths.name
    if storage is None and store is None:
        raise LeaderboardError("nothing to rank: pass a study (--storage/--study), a store "
                               "(--store) or a run directory (--run)")
    data = load_study(study, storage) if storage is not None else None
    index, root = _load_index(store, optional_store and data is not None)
    evals = _evaluations(data, index)
    evals = _select(evals, task, grammar, _where(data, store))
    maximize = _direction(data, index, evals)
    rows = _rank(evals[evals["state"] == "COMPLETE"], maximize)
    task_name = _single(evals["task"]) or (data.user_attrs.get("task") if data else None)
    metric = _single(evals["metric"]) or "score"
    name = label or (data.name if data else _store_name(store))
    return Leaderboard(
        rows=rows, history=history_frame(evals, maximize, name), task=task_name,
        metric=metric, maximize=maximize, references=published_figures(task_name),
        reproducibility=_reproducibility(data, evals, rows, root, task_name, metric, maximize),
        counts=_counts(evals), store_root=root, label=name,
    )


def _store_name(store) -> str:
    if isinstance(store, pd.DataFrame):
        return "store"
    path = Path(store)
    return (path.parent if path.is_file() else path).name


def _load_index(store, optional: bool) -> tuple[pd.DataFrame | None, Path | None]:
    if store is None:
        return None, None
    try:
        index, root = load_store_index(store)
    except LeaderboardError:
        if optional:  # a run whose store has no index yet still ranks from its study
            return None, Path(store)
        raise
    return _normalise_index(index), root


def _normalise_index(index: pd.DataFrame) -> pd.DataFrame:
    index = index.copy()
    for col in (*TRIAL_ATTRS, *_STORE_EXTRAS, "higher_is_better", "created_at", "study"):
        if col not in index:
            index[col] = None
    index["hparams"] = index["hparams"].map(hparams_text)
    return index


def _evaluations(data: StudyData | None, index: pd.DataFrame | None) -> pd.DataFrame:
    """One row per finished evaluation, from the study if there is one, else the store."""
    if data is not None:
        evals = data.trials.copy()
        evals["val_score"] = evals["value"].where(evals["value"].notna(), evals["val_score"])
        if index is not None:
            evals = _join_store(evals, index, data.name)
    else:
        evals = index.copy()
        evals["state"] = "COMPLETE"
        evals["started_at"] = pd.NaT
        evals["completed_at"] = pd.to_datetime(evals["created_at"], utc=True, errors="coerce")
    for col in _STORE_EXTRAS:
        if col not in evals:
            evals[col] = None
    for col in (*_INTS, *_FLOATS):
        evals[col] = pd.to_numeric(evals[col], errors="coerce")
    # a row without a finite score cannot be ranked, whatever its state says
    unscored = ~np.isfinite(evals["val_score"].to_numpy(dtype=float))
    evals.loc[unscored & (evals["state"] == "COMPLETE"), "state"] = "FAIL"
    evals["arch_id"] = evals["arch_id"].fillna(
        "#" + evals["trial_number"].astype("Int64").astype(str))
    evals["grammar"] = evals["grammar"].fillna("(unknown)")
    return evals.reset_index(drop=True)


def _join_store(evals: pd.DataFrame, index: pd.DataFrame, study_name: str) -> pd.DataFrame:
    """Add the store's columns (latency, ONNX path, exporter) to the study's rows."""
    keys = ["arch_id"] + (["task"] if evals["task"].notna().any() else [])
    # the same architecture may be stored by several studies: prefer this study's record
    mine = index["study"].astype(str).eq(study_name)
    index = index.assign(_mine=mine).sort_values("_mine", ascending=False, kind="stable")
    extras = index.drop_duplicates(keys)[keys + list(_STORE_EXTRAS)]
    merged = evals.merge(extras, on=keys, how="left", suffixes=("", "_store"))
    for col in _STORE_EXTRAS:
        if f"{col}_store" in merged:
            merged[col] = merged[col].where(merged[col].notna(), merged.pop(f"{col}_store"))
    return merged


def _where(data: StudyData | None, store) -> str:
    if data is not None:
        return f"study {data.name!r} in {data.storage}"
    return f"store {str(store)!r}" if not isinstance(store, pd.DataFrame) else "the store frame"


def _select(evals: pd.DataFrame, task: str | None, grammar: str | None, where: str
            ) -> pd.DataFrame:
    """Filter by task and grammar; refuse to rank several tasks together."""
    if evals.empty:
        raise LeaderboardError(f"{where} has no finished evaluations yet: run `nas search` "
                               "first (or wait for its first evaluation)")
    for col, wanted in (("task", task), ("grammar", grammar)):
        if wanted is not None:
            present = sorted(evals[col].dropna().astype(str).unique())
            evals = evals[evals[col].astype(str) == wanted]
            if evals.empty:
                raise LeaderboardError(f"no evaluations with {col} {wanted!r} in {where}; "
                                       f"{col}s there: {', '.join(present) or '(none)'}")
    tasks = sorted(evals["task"].dropna().astype(str).unique())
    if len(tasks) > 1:
        raise LeaderboardError(f"{where} mixes tasks ({', '.join(tasks)}); scores of different "
                               "tasks do not rank together: pick one with --task")
    if not (evals["state"] == "COMPLETE").any():
        raise LeaderboardError(_all_failed(evals, where))
    return evals


def _all_failed(evals: pd.DataFrame, where: str) -> str:
    reasons = evals["fail_reason"].dropna().astype(str)
    first = f"; first reason: {reasons.iloc[0]}" if len(reasons) else ""
    return (f"{where} has {len(evals)} finished evaluation(s) and none completed with a "
            f"score{first}. Fix the cause and rerun `nas search`")


def _direction(data: StudyData | None, index: pd.DataFrame | None, evals: pd.DataFrame) -> bool:
    """Whether higher scores are better: the study's direction, the store's flag, the metric."""
    if data is not None:
        return data.maximize
    flags = index["higher_is_better"].dropna() if index is not None else pd.Series([])
    if len(flags):
        return str(flags.iloc[0]).strip().lower() in ("true", "1", "1.0", "yes")
    metric = (_single(evals["metric"]) or "").lower()
    return not any(word in metric for word in _LOWER_IS_BETTER)


def _single(values: pd.Series) -> str | None:
    present = values.dropna().astype(str).unique()
    return str(present[0]) if len(present) else None


def _rank(done: pd.DataFrame, maximize: bool) -> pd.DataFrame:
    """Best evaluation per architecture, ranked by validation score; Pareto flags added.
    Equal scores are ordered as the search orders them (nas.search.history.fitness): the
    lower validation loss first (rows without one last), then fewer parameters, then the
    earlier trial."""
    order = done.sort_values(["val_score", "val_loss", "params", "trial_number"],
                             ascending=[not maximize, True, True, True], kind="mergesort")
    best = order.drop_duplicates("arch_id", keep="first").copy()
    best["evaluations"] = best["arch_id"].map(order.groupby("arch_id").size()).astype(int)
    best["rank"] = best["val_score"].rank(method="min", ascending=not maximize).astype(int)
    score = best["val_score"].to_numpy(dtype=float)
    for flag, cost in (("pareto_params", "params"), ("pareto_latency", "latency_ms")):
        best[flag] = pareto_mask(score, best[cost].to_numpy(dtype=float), maximize)
    best = best[list(COLUMNS)].reset_index(drop=True)
    for col in (*_INTS, "evaluations"):
        best[col] = best[col].astype("Int64")
    return best


def history_frame(evals: pd.DataFrame, maximize: bool, run: str) -> pd.DataFrame:
    """Finished evaluations in completion order with the best score so far.

    Failed evaluations count as evaluations (they spent budget) but never improve the
    best score. ``elapsed_s`` is measured from the first evaluation's start.
    """
    order = evals.sort_values(["completed_at", "trial_number"], kind="mergesort",
                              na_position="last")
    score = order["val_score"].where(order["state"] == "COMPLETE")
    best = score.cummax() if maximize else score.cummin()
    start = order["started_at"].min()
    if pd.isna(start):  # store rows record only when they were written
        start = order["completed_at"].min()
    elapsed = (order["completed_at"] - start).dt.total_seconds() if pd.notna(start) else np.nan
    return pd.DataFrame({
        "run": run, "strategy": order["strategy"].fillna("unknown").astype(str),
        "evaluation": np.arange(1, len(order) + 1), "trial_number": order["trial_number"],
        "state": order["state"], "val_score": score, "best_so_far": best,
        "elapsed_s": elapsed, "train_seconds": order["train_seconds"],
        "grammar": order["grammar"],
    }).reset_index(drop=True)


def _counts(evals: pd.DataFrame) -> dict[str, int]:
    states = evals["state"].value_counts()
    return {"finished": len(evals), "completed": int(states.get("COMPLETE", 0)),
            "failed": int(states.get("FAIL", 0)), "pruned": int(states.get("PRUNED", 0))}


def _reproducibility(data, evals, rows, root, task, metric, maximize) -> dict[str, str]:
    """What a reader needs to reproduce the board (docs/leaderboard.md lists the sources)."""
    info = {"generated with": f"nas {nas.__version__}",
            "generated at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    versions = _join(evals["platform_version"])
    if data is not None and "platform_version" in data.user_attrs:
        versions = str(data.user_attrs["platform_version"])
    if versions:
        info["evaluated with"] = f"nas {versions}"
    info["task"] = str(task or "(unknown)")
    info["metric"] = f"{metric} ({'higher' if maximize else 'lower'} is better)"
    if data is not None:
        info["study"] = f"{data.name} in {data.storage}"
    if root is not None:
        info["store"] = str(root)
    info["grammars"] = _grammar_hashes(evals)
    info["strategies"] = _join(evals["strategy"]) or "(unknown)"
    info["seeds"] = _seeds(evals["seed"])
    info["evaluations"] = _count_text(_counts(evals), len(rows))
    seconds = float(evals["train_seconds"].sum(skipna=True))
    info["training time"] = format_duration(seconds) if seconds > 0 else "(not recorded)"
    if data is not None:
        info.update(_study_attrs(data))
    return info


def _join(values: pd.Series) -> str:
    return ", ".join(sorted(values.dropna().astype(str).unique()))


def _grammar_hashes(evals: pd.DataFrame) -> str:
    pairs = evals[["grammar", "grammar_hash"]].dropna(subset=["grammar"]).drop_duplicates()
    parts = []
    for name, group in pairs.groupby("grammar", sort=True):
        hashes = ", ".join(sorted(group["grammar_hash"].dropna().astype(str)))
        parts.append(f"{name} ({hashes})" if hashes else str(name))
    return "; ".join(parts) or "(unknown)"


def _seeds(seeds: pd.Series) -> str:
    values = sorted(int(s) for s in seeds.dropna().unique())
    if not values:
        return "(not recorded)"
    if len(values) <= 8:
        return ", ".join(map(str, values))
    return f"{values[0]}..{values[-1]} ({len(values)} distinct)"


def _count_text(counts: dict[str, int], n_archs: int) -> str:
    text = f"{counts['finished']} finished: {counts['completed']} completed"
    text += f", {counts['failed']} failed" if counts["failed"] else ""
    text += f", {counts['pruned']} pruned" if counts["pruned"] else ""
    return f"{text}; {n_archs} distinct architectures"


def _study_attrs(data: StudyData) -> dict[str, str]:
    """The study's own attributes (budgets, seeds, command line), scalars only."""
    out = {}
    for source, attrs in (("study", data.user_attrs), ("study system", data.system_attrs)):
        for key, value in sorted(attrs.items()):
            if isinstance(value, dict):  # e.g. the study's score-defining settings
                value = ", ".join(f"{k}={'none' if v is None else v}"
                                  for k, v in sorted(value.items())) or "(none)"
            if key.startswith("_") or not isinstance(value, str | int | float | bool | list):
                continue
            text = str(value)
            out[f"{source} attr {key}"] = text if len(text) <= 200 else text[:199] + "…"
    return out
