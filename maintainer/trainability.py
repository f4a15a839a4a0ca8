"""The trainability classifier's figures: ROC AUC on held-out grammars and fresh samples.

    python -m maintainer.reexport_store --task digits       # the graphs (minutes)
    python -m maintainer.trainability [--fresh runs/fresh-einspace-digits/bench]
    python -m maintainer.trainability --save trainability.classifier --no-figures

Labels: a record leaves chance when its validation accuracy exceeds twice the task's
chance level (:data:`CHANCE`; 0.2 on the 10-class tasks). Figures, every method on the
same rows:

* **by grammar**: leave-one-grammar-out over the digits records of the shipped
  predictor's index (graphs from ``maintainer.reexport_store``); a grammar whose records
  are all one class (ffn: every network leaves chance) gives no AUC and is only trained on;
* **fresh samples** (``--fresh STORE``): a store really trained apart from the index
  (e.g. ``nas search --grammar einspace --task digits --seed 7``: other samples, another
  data split); records whose architecture is in the index are dropped. Two figures:
  trained on every index record, and trained without the fresh store's grammars.

Baselines: params alone and MACs alone, each oriented (more or fewer = trainable) on
the training rows, as the classifier is. Prints one JSON object per figure and writes
them to ``--out``. ``--save FILE`` writes a classifier trained on every labelled index
record, for ``nas search --strategy predictor --trainability FILE``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.store import OnnxBenchStore
from maintainer.reexport_store import INDEX, reexport_path
from predictors.graph import load_graph
from predictors.metrics import roc_auc
from predictors.trainability import TrainabilityClassifier

#: chance accuracy per classification task (1 / classes)
CHANCE = {"digits": 0.1, "mnist1d": 0.1}


def leaves_chance(df: pd.DataFrame) -> np.ndarray:
    """True where ``val_score`` exceeds twice the task's chance accuracy."""
    return (df["val_score"] > 2 * df["task"].map(CHANCE)).to_numpy()


def size_auc(train: pd.DataFrame, test: pd.DataFrame, column: str) -> float:
    """AUC of ``column`` alone on ``test``, its direction taken from ``train``."""
    sign = 1.0 if roc_auc(train[column], leaves_chance(train)) >= 0.5 else -1.0
    return roc_auc(sign * test[column].to_numpy(float), leaves_chance(test))


def figure(name: str, train: pd.DataFrame, test: pd.DataFrame, views: dict) -> dict:
    """Fit on ``train``, score ``test``: the classifier's AUC beside params' and MACs'."""
    model = TrainabilityClassifier().fit([views[i] for i in train.index], leaves_chance(train))
    labels = leaves_chance(test)
    return {"figure": name, "n_train": len(train), "n_test": len(test),
            "positive_share": round(float(labels.mean()), 3),
            "auc_classifier": round(model.score([views[i] for i in test.index], labels), 3),
            "auc_params": round(size_auc(train, test, "params"), 3),
            "auc_macs": round(size_auc(train, test, "macs"), 3)}


def fresh_figures(df: pd.DataFrame, root: Path, views: dict) -> list[dict]:
    """The classifier trained on the index, tested on the store at ``root``."""
    fresh = OnnxBenchStore(root).to_dataframe()
    fresh = fresh[~fresh["arch_id"].isin(df["arch_id"])].reset_index(drop=True)
    fresh.index = fresh.index + len(df)
    views.update({i: load_graph(root / row["onnx_path"]) for i, row in fresh.iterrows()})
    other = df[~df["grammar"].isin(fresh["grammar"])]
    return [figure(f"fresh {root}: trained on the index", df, fresh, views),
            figure(f"fresh {root}: trained on other grammars", other, fresh, views)]


def by_grammar(df: pd.DataFrame, views: dict) -> list[dict]:
    """Leave-one-grammar-out over the grammars whose records hold both classes."""
    out = []
    for grammar, test in df.groupby("grammar"):
        if len(set(leaves_chance(test))) == 2:
            out.append(figure(f"by-grammar: {grammar} held out", df[df["grammar"] != grammar],
                              test, views))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=INDEX)
    parser.add_argument("--graphs", type=Path, default=Path("runs/reexport"))
    parser.add_argument("--fresh", type=Path, help="a store trained apart from the index")
    parser.add_argument("--fresh-only", action="store_true", help="skip the by-grammar figures")
    parser.add_argument("--save", type=Path, help="write a classifier trained on every record")
    parser.add_argument("--no-figures", action="store_true", help="only --save")
    parser.add_argument("--out", type=Path, default=Path("runs/trainability.json"))
    args = parser.parse_args(argv)
    df = pd.read_csv(args.index)
    df = df[df["task"].isin(CHANCE)].reset_index(drop=True)
    views = {i: load_graph(reexport_path(args.graphs, row)) for i, row in df.iterrows()}
    if args.save:
        model = TrainabilityClassifier().fit([views[i] for i in df.index], leaves_chance(df))
        meta = {"n_records": len(df), "label": "val_score > 2 x chance", "tasks": list(CHANCE)}
        print(f"wrote {model.save(args.save, metadata=meta)}", flush=True)
    if args.no_figures:
        return
    results = [] if args.fresh_only else by_grammar(df, views)
    if args.fresh:
        results += fresh_figures(df, args.fresh, views)
    for result in results:
        print(json.dumps(result), flush=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
