"""Predictors on ONNX-Bench stores: the glue between the store, the platform and ``predictors``.

``predictors`` works on any ONNX file and knows no store; this module reads a store's
records (:func:`load_records`), rebuilds their networks for zero-cost proxies
(:func:`platform_builder`) and trains a predictor from a store (:func:`train_from_store`,
what ``nas predictor train`` runs).

The regression target is chosen by ``target``:

* ``score``: the validation score, oriented so that higher is better (``-val_score``
  for lower-is-better metrics such as RMSE);
* ``quantile``: the oriented score's percentile rank within its task (0..1], which makes
  tasks with different metrics comparable;
* ``auto``: ``score`` when the records cover one task, else ``quantile``.

The choice is stored in the predictor file's metadata (``metadata_["target"]``) so that
``nas predict`` can say what its numbers mean.

A predictor trains on one **fidelity** by default (:func:`one_fidelity`): a score after 1
epoch and one after 20 do not rank networks the same way, and a store can hold both (a
merge of runs with different ``--epochs``, a training time limit that stopped some runs
early). ``epochs="max"`` keeps, in each grammar x task, the records trained for that
group's highest ``epochs``; a number keeps the records of exactly that many epochs;
``"all"`` keeps every record. The kept epochs per group go to ``metadata_["epochs"]``.

The file also records what it learned from: ``metadata_["training_set"]``, the
:func:`training_set_hash` of the records it was fitted on (``nas predictor info`` shows
it), so a predictor can be matched with the store index it follows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench.store import OnnxBenchStore
from bench.tasks import get_task
from nas.builder import build_model
from nas.errors import PredictorError, StoreError
from nas.space import load_space
from predictors.evaluate import load_views, scored
from predictors.predictor import OnnxNetPredictor

TARGETS = ("auto", "score", "quantile")
#: the named fidelity choices of :func:`one_fidelity` (besides a number of epochs)
FIDELITIES = ("max", "all")
#: index columns a predictor needs from a store (docs/SCHEMA.md)
REQUIRED = ("arch_id", "grammar", "task", "val_score", "onnx_path")


def load_records(root: str | Path) -> pd.DataFrame:
    """The index of the ONNX-Bench store at ``root`` as a DataFrame.

    Raises:
        StoreError: no store at ``root``, or required columns are missing.
    """
    df = OnnxBenchStore(root).to_dataframe()
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise StoreError(f"the index of {root} lacks columns {missing} (see docs/SCHEMA.md)")
    return df


def platform_builder(batch_size: int = 64, seed: int = 0) -> Callable[[pd.Series], tuple]:
    """A ``build`` for :func:`predictors.evaluate.proxy_table` that rebuilds records with
    the platform's space (``load_space(grammar).parse(arch)``), builder and tasks."""
    tasks: dict = {}
    spaces: dict = {}

    def build(rec: pd.Series) -> tuple:
        task = tasks.setdefault(rec["task"], get_task(rec["task"]))
        space = spaces.setdefault(rec["grammar"], load_space(rec["grammar"]))
        arch = space.parse(rec["arch"])
        torch.manual_seed(seed)
        model = build_model(arch, space, task.input_shape, task.head)
        return model, task.train.x[:batch_size], task.train.y[:batch_size]

    return build


def training_target(df: pd.DataFrame, target: str = "auto") -> tuple[np.ndarray, str]:
    """The regression target of scored records (:func:`~predictors.evaluate.scored`)."""
    if target not in TARGETS:
        raise PredictorError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    if target == "auto":
        target = "score" if df["task"].nunique() <= 1 else "quantile"
    if target == "score":
        return df["target"].to_numpy(float), "score"
    return df.groupby("task")["target"].rank(pct=True).to_numpy(float), "quantile"


def fidelity_choice(value: str | int) -> str | int:
    """``"max"``, ``"all"`` or a positive number of epochs (text from the command line
    too). Raises PredictorError for anything else."""
    text = str(value).strip().lower()
    if text in FIDELITIES:
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise PredictorError(f"unknown --epochs {value!r}; choose max (each grammar x task's "
                         "highest epochs), all, or a positive number of epochs")


def one_fidelity(df: pd.DataFrame, epochs: str | int = "max") -> pd.DataFrame:
    """The records of ``df`` at one fidelity (see the module docstring).

    Records without ``epochs`` (stores written by other tools) count as one fidelity of
    their own: ``"max"`` keeps a group that records no epochs whole, a number drops them.
    """
    epochs = fidelity_choice(epochs)
    if epochs == "all":
        return df
    trained = pd.to_numeric(df.get("epochs", pd.Series(np.nan, index=df.index)),
                            errors="coerce")
    if epochs == "max":
        top = trained.groupby([df["grammar"], df["task"]]).transform("max")
        keep = (trained == top) | top.isna()
    else:
        keep = trained == epochs
    return df[keep.to_numpy()]


def training_set_hash(df: pd.DataFrame) -> str:
    """``sha256:<hex>`` of the records ``df`` (store index rows): each record's grammar,
    task, arch id, epochs and validation score (10 significant digits), in sorted order,
    so that neither row order nor other columns (paths, timings) change it."""
    epochs = pd.to_numeric(df.get("epochs", pd.Series(np.nan, index=df.index)),
                           errors="coerce")
    lines = sorted(
        f"{g}\t{t}\t{a}\t{'' if pd.isna(e) else int(e)}\t{float(v):.10g}"
        for g, t, a, e, v in zip(df["grammar"], df["task"], df["arch_id"], epochs,
                                 df["val_score"], strict=True))
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def kept_epochs(df: pd.DataFrame) -> dict[str, int | None]:
    """``{"grammar/task": epochs}`` of records at one fidelity (None: not recorded)."""
    if "epochs" not in df.columns:
        return {f"{g}/{t}": None for g, t in df.groupby(["grammar", "task"]).groups}
    top = pd.to_numeric(df["epochs"], errors="coerce").groupby([df["grammar"], df["task"]]).max()
    return {f"{g}/{t}": (None if pd.isna(e) else int(e)) for (g, t), e in top.items()}


def train_from_store(
    root: str | Path, *, grammars: list[str] | None = None, tasks: list[str] | None = None,
    target: str = "auto", epochs: str | int = "max",
    progress: Callable[[int, int], None] | None = None, **params,
) -> OnnxNetPredictor:
    """Fit an :class:`OnnxNetPredictor` (``params``) on the scored records of a store,
    at one fidelity (``epochs``, see :func:`one_fidelity`).

    Raises:
        StoreError: no store at ``root``.
        PredictorError: an unknown ``epochs`` choice, or fewer than 2 scored records
            after filtering.
    """
    epochs = fidelity_choice(epochs)
    df = scored(load_records(root))
    if grammars:
        df = df[df["grammar"].isin(grammars)]
    if tasks:
        df = df[df["task"].isin(tasks)]
    n_filtered = len(df)
    df = one_fidelity(df, epochs).reset_index(drop=True)
    if len(df) < 2:
        raise PredictorError(
            f"the store at {root} has {len(df)} scored records with ONNX files"
            + (" for the chosen --grammar/--task" if grammars or tasks else "")
            + (f" at --epochs {epochs}" if len(df) < n_filtered else "")
            + "; a predictor needs at least 2"
        )
    y, kind = training_target(df, target)
    predictor = OnnxNetPredictor(**params)
    predictor._validate()  # a bad option fails before thousands of files are read
    predictor.fit(load_views(df, root, progress), y, groups=df["grammar"].astype(str).to_numpy())
    predictor.metadata_ = {
        "target": kind, "store": str(root), "n_records": len(df),
        "grammars": sorted(df["grammar"].unique().tolist()),
        "tasks": sorted(df["task"].unique().tolist()),
        "fidelity": str(epochs),
        "epochs": kept_epochs(df) if epochs != "all" else None,
        "n_other_fidelity": n_filtered - len(df),
        "training_set": training_set_hash(df),
    }
    return predictor
