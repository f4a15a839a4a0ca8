"""The predictor's held-out zero-shot set (issue 17): really trained networks of a grammar
and of a task that the shipped predictor never trained on, and its figures on them.

    python -m maintainer.heldout                      # build (resumable), then the figures
    python -m maintainer.heldout --skip-search        # the figures of what is built
    python -m maintainer.heldout --trainability t.classifier   # with the classifier's AUC

Groups (:data:`HELDOUT`), none of them in ``predictors/data/default-store-index.csv``:

* ``ptrnet`` on ``sort-5``: a grammar left out of the training store (and a pointer
  head, which no training record has);
* ``einspace`` on ``mnist1d``: a task left out of it (40-step sequences; the store's
  einspace records are digits images and a 2-D regression).

Each group is one ``nas search --strategy random`` study (its own run directory under
``--out``), every architecture trained in full (``--min-epochs none``: a label is a full
run, not a rung), with the default hyperparameters (one tuning trial), no references, a
seed (11) and so a data split other than the store's. Running it again resumes each
study; a larger budget adds architectures.

Figures per group, every method on the same rows (records with a finite score):

* Kendall tau of the shipped predictor's scores against the validation score;
* the same for params, MACs and each zero-cost proxy (:mod:`predictors.proxies`, on the
  untrained network and one batch of training data), **unoriented**: a zero-shot ranker
  has no training rows of the group to learn a direction from, so bigger counts as
  better, as the predictor's own score does;
* the label-noise ceiling of the group: tau between the validation and the test score
  of the same trained networks;
* with ``--trainability FILE`` (``python -m maintainer.trainability --save FILE``), on
  classification groups: the classifier's ROC AUC for "leaves chance" (validation
  accuracy above twice chance), beside params' and MACs' (unoriented).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from bench.predictor_training import platform_builder
from bench.store import OnnxBenchStore
from maintainer.predictor_store import labelling_search, run_dir, run_labelling
from predictors.evaluate import load_views, proxy_table, scored
from predictors.metrics import kendall_tau, roc_auc
from predictors.predictor import OnnxNetPredictor
from predictors.shipped import default_predictor_path

#: (grammar, task, budget, epochs) of the held-out groups
HELDOUT = [("ptrnet", "sort-5", 120, 5), ("einspace", "mnist1d", 150, 5)]
#: seed of the held-out searches: other samples and another data split than the store's 0
SEED = 11
#: chance accuracy of the classification tasks among the groups (trainability labels)
CHANCE = {"mnist1d": 0.1}


def build(out: Path, groups: list, workers: int) -> None:
    """One random search per group, every architecture trained in full, no references,
    seed :data:`SEED`; an existing run resumes where it stopped."""
    for run in groups:
        grammar, task, budget, epochs = run
        cmd = labelling_search(run, f"heldout-{grammar}-{task}", run_dir(out, grammar, task),
                               workers, ("--no-seed-references", "--seed", str(SEED)))
        run_labelling(cmd, f"{grammar} x {task} (budget {budget}, {epochs} epochs)")


def group_records(out: Path, grammar: str, task: str) -> tuple[pd.DataFrame, Path]:
    """Scored records of one group's store (``target``: the oriented validation score)
    and the store's root."""
    root = run_dir(out, grammar, task) / "bench"
    return scored(OnnxBenchStore(root).to_dataframe()), root


def figures(out: Path, groups: list, trainability: Path | None = None,
            predictor: Path | None = None) -> list[dict]:
    """The figures of every built group (see the module docstring)."""
    model = OnnxNetPredictor.load(predictor or default_predictor_path())
    classifier = None
    if trainability is not None:
        from predictors.trainability import TrainabilityClassifier

        classifier = TrainabilityClassifier.load(trainability)
    return [group_figures(name, df, views, model, classifier)
            for name, df, views in built_groups(out, groups)]


def built_groups(out: Path, groups: list) -> Iterator[tuple[str, pd.DataFrame, list]]:
    """``("grammar/task", scored records, their graphs)`` of each group built under
    ``out`` (a group not built is skipped with a line saying so)."""
    for grammar, task, _, _ in groups:
        if not (run_dir(out, grammar, task) / "bench").is_dir():
            print(f"-- {grammar} x {task}: not built (python -m maintainer.heldout)",
                  flush=True)
            continue
        df, root = group_records(out, grammar, task)
        yield f"{grammar}/{task}", df, load_views(df, root)


def group_figures(name: str, df: pd.DataFrame, views: list, model, classifier=None) -> dict:
    """Tau of the predictor and of each baseline against ``df``'s oriented scores."""
    truth = df["target"].to_numpy(float)
    sign = np.where(df["higher_is_better"].fillna(True).astype(bool), 1.0, -1.0)
    rankers = {"predictor": model.predict(views),
               "params": df["params"].to_numpy(float), "macs": df["macs"].to_numpy(float)}
    proxies = proxy_table(df, platform_builder())
    keys = pd.MultiIndex.from_arrays([df["arch_id"].astype(str), df["task"].astype(str)])
    for column in proxies.columns:
        rankers[f"proxy:{column}"] = proxies.reindex(keys)[column].to_numpy(float)
    taus = {method: _tau(scores, truth) for method, scores in rankers.items()}
    baselines = {m: t for m, t in taus.items() if m != "predictor" and np.isfinite(t)}
    best = max(baselines, key=baselines.get) if baselines else None
    row = {"group": name, "n": len(df),
           "noise_ceiling": round(kendall_tau(truth, sign * df["test_score"].to_numpy(float)), 3),
           "tau": {m: round(t, 3) for m, t in taus.items()},
           "best_baseline": best, "margin": round(taus["predictor"] - baselines[best], 3)
           if best else None}
    task = str(df["task"].iloc[0])
    if classifier is not None and task in CHANCE:
        labels = df["val_score"].to_numpy(float) > 2 * CHANCE[task]
        row["trainability"] = {
            "positive_share": round(float(labels.mean()), 3),
            "auc_classifier": round(roc_auc(classifier.predict_proba(views)[:, 1], labels), 3),
            "auc_params": round(roc_auc(rankers["params"], labels), 3),
            "auc_macs": round(roc_auc(rankers["macs"], labels), 3)}
    return row


def _tau(scores: np.ndarray, truth: np.ndarray) -> float:
    """Kendall tau over the rows where ``scores`` is finite (NaN when fewer than 3)."""
    keep = np.isfinite(scores)
    return kendall_tau(scores[keep], truth[keep]) if keep.sum() >= 3 else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/heldout"))
    parser.add_argument("--budget", type=int, help="evaluations per group (default: HELDOUT's)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--skip-search", action="store_true", help="only the figures")
    parser.add_argument("--trainability", type=Path, help="a trainability classifier file")
    parser.add_argument("--predictor", type=Path, help="default: the shipped predictor")
    args = parser.parse_args(argv)
    groups = [(g, t, args.budget or b, e) for g, t, b, e in HELDOUT]
    if not args.skip_search:
        build(args.out, groups, args.workers)
    results = figures(args.out, groups, args.trainability, args.predictor)
    for row in results:
        print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "figures.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
