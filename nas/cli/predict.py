"""``nas predict`` and the ``nas predictor`` group (info, train, eval): the ONNX-Net predictor.

Heavy modules are imported inside the commands so that ``nas --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from nas.cli.root import app
from nas.errors import PredictorError
from nas.json_text import dumps
from nas.paths import output_file

predictor_app = typer.Typer(
    help="Train and evaluate ONNX-Net predictors on an ONNX-Bench store.",
    no_args_is_help=True,
)
app.add_typer(predictor_app, name="predictor")

STORE_OPTION = typer.Option(..., "--store", "-s", help="ONNX-Bench store directory.")


@app.command("predict")
def predict(
    models: list[Path] = typer.Argument(..., help="ONNX files to score."),
    predictor: Path = typer.Option(None, "--predictor", "-p",
                                   help="Predictor file (default: the shipped one)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Predict the score of ONNX models with an ONNX-Net predictor (any ONNX file works)."""
    # predictors (scikit-learn, onnx): only the predictor commands need them (issue 16)
    from predictors import OnnxNetPredictor

    path = _predictor_path(predictor)
    model = OnnxNetPredictor.load(path)
    scores = model.predict([str(m) for m in models])
    target = model.metadata_.get("target", "score")
    if as_json:
        out = {"predictor": str(path), "target": target,
               "predictions": [{"model": str(m), "predicted_score": float(s)}
                               for m, s in zip(models, scores, strict=True)]}
        typer.echo(dumps(out, indent=2))
        return
    typer.echo(f"# predictor {path} (target: {target})")
    for m, s in zip(models, scores, strict=True):
        typer.echo(f"{s:.4f}  {m}")


def _predictor_path(predictor: Path | None) -> Path:
    """``predictor``, or the shipped one (PredictorError when none is shipped)."""
    from predictors.shipped import default_predictor_path

    path = predictor or default_predictor_path()
    if predictor is None and not path.is_file():
        raise PredictorError(
            "no default predictor is shipped in this installation "
            f"({path}); train one with `nas predictor train --store DIR -o my.predictor` "
            "and pass --predictor my.predictor"
        )
    return path


@predictor_app.command("info")
def info(
    predictor: Path = typer.Argument(None, help="Predictor file (default: the shipped one)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """What a predictor file holds: its configuration and what it was trained on
    (records, groups, fidelity, the training set's hash)."""
    from predictors import OnnxNetPredictor

    path = _predictor_path(predictor)
    model = OnnxNetPredictor.load(path)
    meta = model.metadata_
    if as_json:
        typer.echo(dumps({"predictor": str(path), "bytes": path.stat().st_size,
                          "params": model.get_params(deep=False), "n_train": model.n_train_,
                          "metadata": meta}, indent=2))
        return
    typer.echo(f"{path} ({path.stat().st_size / 1024:.0f} KiB): {model!r}, "
               f"fitted on {model.n_train_} records")
    for key in sorted(meta):
        typer.echo(f"  {key}: {meta[key]}")


@predictor_app.command("train")
def train(
    store: Path = STORE_OPTION,
    out: Path = typer.Option(..., "--out", "-o", help="Predictor file to write."),
    encoder: str = typer.Option("hashing", "--encoder", help="hashing or minilm."),
    regressor: str = typer.Option("ridge", "--regressor",
                                  help="ridge, gbm, mlp or blend (mean of gbm and mlp)."),
    ranking: bool = typer.Option(False, "--ranking",
                                 help="Add the pairwise margin-ranking loss (mlp only)."),
    features: str = typer.Option("text+graph", "--features", help="text, graph or text+graph."),
    size_prior: bool = typer.Option(False, "--size-prior",
                                    help="Mix in log(params) + log(MACs), weighted by "
                                         "leave-one-grammar-out on the store (see "
                                         "docs/predictor.md)."),
    grammar: list[str] = typer.Option(None, "--grammar", "-g",
                                      help="Train on these grammars only (repeatable)."),
    task: list[str] = typer.Option(None, "--task", "-t",
                                   help="Train on these tasks only (repeatable)."),
    target: str = typer.Option("auto", "--target",
                               help="score, quantile (within task) or auto "
                                    "(score for one task, else quantile)."),
    epochs: str = typer.Option("max", "--epochs",
                               help="Fidelity to train on: max (each grammar x task's highest "
                                    "epochs), all, or a number of epochs."),
    seed: int = typer.Option(0, "--seed", help="Random state of the fit."),
) -> None:
    """Fit a predictor on the scored records of a store (one fidelity) and save it."""
    # torch, scikit-learn: only the predictor commands need them (issue 16)
    from bench.predictor_training import train_from_store

    output_file(out, "--out", example="model.predictor")
    model = train_from_store(
        store, grammars=grammar or None, tasks=task or None, target=target,
        epochs=epochs, progress=_progress("reading ONNX files"), encoder=encoder,
        regressor=regressor, ranking=ranking, features=features, size_prior=size_prior,
        random_state=seed,
    )
    model.save(out)
    meta = model.metadata_
    typer.echo(f"wrote {out}: {model!r} on {meta['n_records']} records "
               f"({', '.join(meta['grammars'])} / {', '.join(meta['tasks'])}), "
               f"target {meta['target']}, epochs {meta['fidelity']}"
               + (f" ({meta['n_other_fidelity']} records at other epochs left out)"
                  if meta["n_other_fidelity"] else ""))


@predictor_app.command("eval")
def evaluate(
    store: Path = STORE_OPTION,
    predictor: Path = typer.Option(None, "--predictor", "-p",
                                   help="Predictor file whose configuration is refitted on "
                                        "each split (default: every encoder x regressor)."),
    split: str = typer.Option("in-space", "--split", help="in-space or by-grammar."),
    train_size: int = typer.Option(500, "--train-size",
                                   help="in-space: at most this many training records."),
    folds: int = typer.Option(5, "--folds", help="in-space: cross-validation folds per group."),
    as_is: bool = typer.Option(False, "--as-is",
                               help="Also score the given predictor without refitting "
                                    "(method 'given'; leaks if it was trained on this store)."),
    proxies: bool = typer.Option(False, "--proxies",
                                 help="Also rank by zero-cost proxies (rebuilds every network)."),
    gnn: bool = typer.Option(False, "--gnn",
                             help="Also fit the graph neural network (predictors.gnn; tens of "
                                  "seconds per split)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the splits and fits."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Kendall tau / Spearman on held-out records, against params, MACs and proxies."""
    # torch, scikit-learn: only the predictor commands need them (issue 16)
    from bench.predictor_training import load_records, platform_builder
    from predictors import OnnxNetPredictor
    from predictors import evaluate as ev

    df = ev.scored(load_records(store))
    splits = ev.make_splits(df, split, seed=seed,
                            **({"train_size": train_size, "folds": folds}
                               if split == "in-space" else {}))
    if not splits:
        raise PredictorError(
            f"no {split} split in {store}: in-space needs >= 20 scored records of one "
            "grammar/task, by-grammar needs >= 2 grammars of one task with >= 10 each"
        )
    fitted = OnnxNetPredictor.load(predictor) if predictor else None
    methods = ev.default_methods(split=split)
    if fitted is not None:
        methods = {"refit": {k: v for k, v in fitted.get_params().items()
                             if k != "random_state"}}
    if gnn:
        methods = {**methods, **ev.GNN_METHOD}
    views = ev.load_views(df, store, _progress("reading ONNX files"))
    table = None
    if proxies:
        table = ev.proxy_table(df, platform_builder(seed=seed), seed=seed)
    rows = ev.evaluate(df, views, splits, methods=methods, proxies=table,
                       fitted=fitted if as_is else None, random_state=seed,
                       progress=lambda msg: typer.echo(msg, err=True))
    summary = ev.summarize(rows)
    if as_json:
        typer.echo(dumps({"store": str(store), "split": split,
                               "summary": summary.to_dict("records"),
                               "rows": rows.to_dict("records")}, indent=2))
        return
    groups = len({s.group for s in splits})
    typer.echo(f"# {split}: median over {groups} group(s) ({len(splits)} split(s)) of {store}")
    typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _progress(what: str):
    """A progress callback that prints every 10% to stderr."""
    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"{what}: {done}/{total}", file=sys.stderr, flush=True)
    return report
