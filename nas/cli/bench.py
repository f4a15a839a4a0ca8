"""``nas export`` and the ``nas bench`` group (ls, show, import, stats, merge, rebuild).

Heavy modules (torch, onnx, pandas) are imported inside the commands so that
``nas --help`` stays fast.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from nas.cli.root import app, fail
from nas.errors import StoreError
from nas.json_text import dumps
from nas.paths import output_dir, output_file, read_text

DEFAULT_STORE = Path("runs/bench")
STORE_OPTION = typer.Option(DEFAULT_STORE, "--store", "-s", help="Store directory.")

bench = typer.Typer(
    help="The ONNX-Bench store: list, show, import, merge and count records.",
    no_args_is_help=True,
)
app.add_typer(bench, name="bench")


@app.command("export")
def export(
    arch: str = typer.Argument(..., help="Architecture string (or @file to read it from a file)."),
    grammar: str = typer.Option("einspace", "--grammar", "-g", help="Grammar name or .lark path."),
    task: str = typer.Option("digits", "--task", "-t", help="Task whose head and input to use."),
    out: Path = typer.Option(..., "--out", "-o", help="ONNX file to write."),
    exporter: str = typer.Option("auto", "--exporter", help="auto, torchscript or dynamo."),
    input_shape: str = typer.Option(None, "--input-shape",
                                    help="Per-sample input shape, e.g. 3x32x32 "
                                         "(default: the task's)."),
    opset: int = typer.Option(None, "--opset", help="ONNX opset (>= 17; default 18)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the (untrained) weights."),
) -> None:
    """Build an architecture with its task's head (untrained weights) and export it to ONNX.

    The file is checked with onnx.checker and compared with onnxruntime at batch sizes
    1 and 7 before it is written.
    """
    output_file(out, "--out", example="model.onnx")
    # torch and the builder: only this command builds a model (issue 16)
    import torch

    from bench.tasks import get_task
    from nas.builder import build_model
    from nas.export import DEFAULT_OPSET, export_onnx
    from nas.onnx_cost import count_macs, count_params
    from nas.space import load_space, parse_shape

    space = load_space(grammar)
    architecture = space.parse(_arch_text(arch))
    the_task = get_task(task)
    shape = parse_shape(input_shape) if input_shape else tuple(the_task.input_shape)
    torch.manual_seed(seed)
    model = build_model(architecture, space, shape, the_task.head)
    meta = {"arch_id": architecture.id, "arch": str(architecture), "grammar": space.name,
            "grammar_hash": space.hash, "task": the_task.name, "weights": "untrained",
            "seed": seed}
    result = export_onnx(model, shape, path=out, exporter=exporter,
                         opset=opset or DEFAULT_OPSET, metadata=meta)
    typer.echo(
        f"wrote {out} ({result.exporter}, opset {result.opset}, "
        f"{count_params(result.model):,} params, {count_macs(result.model):,} MACs, "
        f"parity max abs err {result.max_abs_err:.2g}, {result.seconds * 1000:.0f} ms)"
    )


def _arch_text(arch: str) -> str:
    if not arch.startswith("@"):
        return arch
    return read_text(arch[1:], "architecture file").strip()


def _open(store: Path, create: bool = False):
    # the store (onnx, pandas): only for the bench commands, not at `nas` start-up
    from bench.store import OnnxBenchStore

    return OnnxBenchStore(store, create=create)


_LS_COLUMNS = ("arch_id", "grammar", "task", "metric", "val_score", "test_score", "params",
               "macs", "exporter", "source", "created_at")


@bench.command("ls")
def ls(
    store: Path = STORE_OPTION,
    grammar: str = typer.Option(None, "--grammar", "-g", help="Only this grammar."),
    task: str = typer.Option(None, "--task", "-t", help="Only this task."),
    sort: str = typer.Option("created_at", "--sort", help="Column to sort by (best first "
                             "for val_score/test_score)."),
    limit: int = typer.Option(50, "--limit", "-n", help="Rows to show (0 = all)."),
    as_json: bool = typer.Option(False, "--json", help="Print records as JSON lines."),
) -> None:
    """List the records of a store."""
    rows = [r for _, r in _open(store).records()
            if grammar in (None, r["grammar"]) and task in (None, r["task"])]
    if rows and sort not in rows[0]:
        fail(f"unknown --sort column {sort!r}; use one of: {', '.join(rows[0])}")
    rows = _sorted(rows, sort)
    shown = rows if limit <= 0 else rows[:limit]
    if as_json:
        for r in shown:
            typer.echo(dumps(r))
        return
    typer.echo(_table(shown, _LS_COLUMNS) if shown else f"(no records in {store})")
    if len(shown) < len(rows):
        typer.echo(f"... {len(rows) - len(shown)} more (use --limit 0)")


def _sorted(rows: list[dict], column: str) -> list[dict]:
    if column in ("val_score", "test_score", "predicted_score"):
        def key(r):  # best first, whatever the direction; missing last
            v = r[column]
            missing = v is None or v != v
            return (missing, 0.0 if missing else (-v if r["higher_is_better"] else v))
        return sorted(rows, key=key)
    numeric = all(isinstance(r[column], int | float | None) for r in rows)
    return sorted(rows, key=lambda r: (r[column] is None,
                                       (r[column] or 0) if numeric else str(r[column])))


def _table(rows: list[dict], columns) -> str:
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


@bench.command("show")
def show(
    arch_id: str = typer.Argument(..., help="Architecture id (a unique prefix works)."),
    store: Path = STORE_OPTION,
    task: str = typer.Option(None, "--task", "-t", help="Pick the task if stored for several."),
    grammar: str = typer.Option(None, "--grammar", "-g", help="Pick the grammar if several."),
    text: bool = typer.Option(True, "--text/--no-text", help="Print the graph as text."),
    as_json: bool = typer.Option(False, "--json", help="Print record and metadata as JSON."),
) -> None:
    """Show one record: its index row, the metadata in its ONNX file, and its graph as text."""
    # onnx: only for the bench commands, not at `nas` start-up
    from nas.onnx_file import read_metadata

    opened = _open(store)
    record = opened.get(arch_id, task=task, grammar=grammar)
    path = opened.root / record["onnx_path"]
    metadata = read_metadata(path)
    if as_json:
        typer.echo(dumps({"record": record, "path": str(path), "metadata_props": metadata},
                          indent=2))
        return
    width = max(len(k) for k in record)
    for key, value in record.items():
        shown = json.dumps(value, sort_keys=True) if isinstance(value, dict) else _cell(value)
        typer.echo(f"{key.ljust(width)}  {shown}")
    typer.echo(f"\nfile: {path}\nmetadata_props (in file order):")
    for key, value in metadata.items():
        typer.echo(f"  {key} = {value}")
    if text:
        typer.echo("\ngraph:\n" + _graph_text(path))


def _graph_text(path: Path) -> str:
    # the text encoder (onnx): only for `nas bench show`, not at `nas` start-up
    from predictors.text import onnx_to_text

    return onnx_to_text(path)


@bench.command("import")
def import_(
    scores: Path = typer.Argument(..., help="CSV with columns path, score[, metric, task, "
                                  "name, ...]."),
    store: Path = STORE_OPTION,
    task: str = typer.Option(None, "--task", "-t", help="Task for rows without one."),
    metric: str = typer.Option(None, "--metric", help="Metric for rows without one "
                               "(default accuracy)."),
    lower_is_better: bool = typer.Option(False, "--lower-is-better",
                                         help="The scores are errors/losses."),
) -> None:
    """Import foreign ONNX files with their scores (grammar "foreign"); creates the store."""
    # the score file (onnx): only for this command, not at `nas` start-up
    from bench.store.foreign import read_score_file

    output_dir(store, "store", StoreError)  # a file in its way: said before the CSV's problems
    # every row is checked before the store is opened: a bad CSV creates no store directory
    checked = read_score_file(scores, task=task, metric=metric,
                              higher_is_better=False if lower_is_better else None)
    report = _open(store, create=True).import_scores(checked)
    typer.echo(f"{scores}: {len(report.records)} model(s) into {store}: {report.summary()}")
    for change in report.updated:
        typer.echo(f"  updated {change.describe()}")


@bench.command("stats")
def stats(
    store: Path = STORE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Counts per grammar/task/source, score ranges, size on disk and store health."""
    info = _open(store).stats()
    if as_json:
        typer.echo(dumps(info, indent=2))
        return
    typer.echo(f"store {info['root']}: {info['records']} records, "
               f"{info['bytes'] / 2**20:.1f} MiB, index {info['index']}")
    for name, t in info["tasks"].items():
        typer.echo(f"  task {name}: {t['records']} records, {t['metric']} "
                   f"best {_cell(t['best'])} worst {_cell(t['worst'])}")
    for label in ("grammars", "sources", "exporters"):
        typer.echo(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in info[label].items()))
    problems = {"unreadable or invalid files": info["corrupt_files"],
                "index rows without file": info["rows_without_file"]}
    for label, items in problems.items():
        if items:
            typer.echo(f"  {label}: {len(items)} ({', '.join(items[:5])})")
    if info["temp_files"]:
        typer.echo(f"  temp files of interrupted writes: {info['temp_files']} "
                   "(`nas bench rebuild` removes those over an hour old)")


@bench.command("merge")
def merge(
    others: list[Path] = typer.Argument(..., help="Stores to merge into --store."),
    store: Path = STORE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Merge stores written on other machines into --store (created if needed).

    The same architecture+task in several stores keeps the earliest evaluation
    (created_at; ties: smaller file hash), whatever the order of the stores.
    """
    output_dir(store, "store", StoreError)  # a file in its way: said before the sources'
    for other in others:  # each source is checked before --store is created: a missing
        _open(other)      # or invalid one leaves no empty store behind
    report = _open(store, create=True).merge(others)
    if as_json:
        typer.echo(dumps(asdict(report), indent=2))
        return
    typer.echo(f"merged into {store}: {report.summary()}")
    for dup in report.duplicates:
        if not dup.identical:
            typer.echo(f"  {dup.key}: kept {dup.kept}, dropped {', '.join(dup.dropped)}")


@bench.command("rebuild")
def rebuild(store: Path = STORE_OPTION) -> None:
    """Rebuild index.parquet from the ONNX files alone (after copying files in by hand)."""
    report = _open(store).rebuild_index()
    typer.echo(f"indexed {report.records} record(s); unreadable or invalid files: "
               f"{len(report.corrupt)}; "
               f"removed temp files: {report.removed_temp_files}")
    for rel in report.corrupt:
        typer.echo(f"  unreadable or invalid: {rel}")
