"""The learned encoder against the hashed text (issue 17): zero-shot by grammar and on
the held-out set, both fitted on the same records.

    python -m maintainer.reexport_store --task digits       # the graphs (minutes)
    python -m maintainer.heldout                            # the held-out set
    python -m maintainer.encoders [--graphs runs/reexport] [--heldout runs/heldout]

Training rows: the records of the shipped predictor's index whose graph was re-exported
(``maintainer.reexport_store``: untrained graphs of the index's architectures; the
features read the graph, not the weights). Two figures, Kendall tau against the
validation score, every method on the same rows:

* **by grammar** (zero-shot): for each task and grammar, fit on the task's other
  grammars, rank the held-out grammar's records (:func:`predictors.evaluate.evaluate`);
* **held-out set**: fit on every training row, rank each group that
  ``maintainer.heldout`` built (a grammar and a task no training row has).

Methods (:data:`METHODS`): the shipped predictor's configuration refitted
(``hashing+blend``) and the GNN (:mod:`predictors.gnn`); baselines params and MACs,
unoriented on the held-out set (a zero-shot ranker has no rows to orient them on).
Prints one JSON object per figure and writes them all to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from bench.predictor_training import training_target
from maintainer.heldout import HELDOUT, built_groups
from maintainer.reexport_store import INDEX, reexport_path
from predictors.evaluate import (
    GNN_METHOD,
    by_grammar_splits,
    evaluate,
    load_views,
    make_predictor,
    scored,
    summarize,
)
from predictors.metrics import kendall_tau

#: the methods compared (predictors.evaluate.make_predictor params)
METHODS = {"hashing+blend": {"encoder": "hashing", "regressor": "blend"}, **GNN_METHOD}


def training_rows(index: Path, graphs: Path) -> tuple[pd.DataFrame, list]:
    """The index records that have a re-exported graph (``target``: oriented score),
    and their graphs."""
    df = pd.read_csv(index)
    df["onnx_path"] = [str(reexport_path(Path(), row)) for _, row in df.iterrows()]
    df = scored(df[[(graphs / p).is_file() for p in df["onnx_path"]]])
    return df, load_views(df, graphs)


def by_grammar(df: pd.DataFrame, views: list, seed: int) -> dict:
    """Median tau per method over the leave-one-grammar-out splits, and the splits' rows."""
    rows = evaluate(df, views, by_grammar_splits(df, seed=seed), methods=METHODS,
                    random_state=seed, progress=lambda m: print(m, flush=True))
    return {"figure": "by-grammar", "summary": summarize(rows).to_dict("records"),
            "rows": rows.to_dict("records")}


def heldout(df: pd.DataFrame, views: list, out: Path, seed: int) -> list[dict]:
    """Each method fitted on every training row, ranking each built held-out group."""
    fitted = {}
    y, _kind = training_target(df, "auto")  # quantile within task when there are several
    for name, params in METHODS.items():
        started = time.perf_counter()
        fitted[name] = make_predictor(params, seed).fit(views, y)
        print(f"fitted {name} on {len(df)} records in {time.perf_counter() - started:.0f} s",
              flush=True)
    results = []
    for name, group, test_views in built_groups(out, HELDOUT):
        truth = group["target"].to_numpy(float)
        taus = {m: kendall_tau(truth, p.predict(test_views)) for m, p in fitted.items()}
        taus["params"] = kendall_tau(truth, group["params"].to_numpy(float))
        taus["macs"] = kendall_tau(truth, group["macs"].to_numpy(float))
        results.append({"figure": f"held-out {name}", "n": len(group),
                        "tau": {k: round(float(v), 3) for k, v in taus.items()}})
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=INDEX)
    parser.add_argument("--graphs", type=Path, default=Path("runs/reexport"))
    parser.add_argument("--heldout", type=Path, default=Path("runs/heldout"))
    parser.add_argument("--skip-by-grammar", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/encoders.json"))
    args = parser.parse_args(argv)
    df, views = training_rows(args.index, args.graphs)
    if df.empty:
        raise SystemExit(f"no re-exported graph under {args.graphs}: run "
                         "python -m maintainer.reexport_store first")
    print(f"{len(df)} training records: "
          + ", ".join(f"{g}/{t} {n}" for (g, t), n in df.groupby(["grammar", "task"]).size()
                      .items()), flush=True)
    results = [] if args.skip_by_grammar else [by_grammar(df, views, args.seed)]
    if results:
        print(json.dumps({"figure": "by-grammar", "summary": results[0]["summary"]}), flush=True)
    for row in heldout(df, views, args.heldout, args.seed):
        print(json.dumps(row), flush=True)
        results.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
