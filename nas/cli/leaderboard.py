"""``nas leaderboard``: rank a run's architectures, or compare runs, in any format."""

from __future__ import annotations

from pathlib import Path

import typer

from nas.cli.root import app
from nas.errors import LeaderboardError
from nas.paths import output_file

#: where `nas leaderboard` looks for runs when given no source (relative to the cwd)
RUNS_ROOT = Path("runs")
_SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".csv": "csv",
                   ".json": "json", ".txt": "table"}


@app.command("leaderboard")
def leaderboard(
    runs: list[Path] = typer.Argument(
        None, help="Run directories: one to rank (like --run), or several with --compare."),
    study: str = typer.Option(None, "--study", help="Outer study name (default: the "
                              "storage's only search study)."),
    storage: str = typer.Option(None, "--storage", help="Optuna storage: URL, journal file "
                                "or SQLite file (default: the run's study.journal)."),
    store: Path = typer.Option(None, "--store", help="ONNX-Bench store root, or its "
                               "index.parquet / index.csv."),
    run: Path = typer.Option(None, "--run", help="Run directory (default: the newest "
                             "under runs/)."),
    task: str = typer.Option(None, "--task", help="Only rows of this task."),
    grammar: str = typer.Option(None, "--grammar", help="Only rows of this grammar."),
    fmt: str = typer.Option(None, "--format", "-f", help="table, md, csv, json or html "
                            "(default: from the -o suffix, else table)."),
    out: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of "
                             "stdout."),
    top: int = typer.Option(None, "--top", help="Show the best N rows (table default: 20; "
                            "other formats: all)."),
    compare: bool = typer.Option(False, "--compare", help="Compare the run directories given "
                                 "as arguments: `--compare runs/rs runs/re`."),
) -> None:
    """Rank evaluated architectures by validation score, or compare several runs."""
    # pandas and plots: only this command needs the leaderboard (issue 16)
    from bench.leaderboard import FORMATS, compare_runs, load_leaderboard

    if fmt is None:
        fmt = _SUFFIX_FORMATS.get(out.suffix.lower(), "table") if out else "table"
    if fmt not in FORMATS:
        raise LeaderboardError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    runs = list(runs or [])
    if compare:
        if len(runs) < 2:
            raise LeaderboardError("--compare needs two or more run directories, e.g. "
                                   "`nas leaderboard --compare runs/rs runs/re`")
        result = compare_runs(runs, task=task, grammar=grammar)
    else:
        if len(runs) > 1:
            raise LeaderboardError("several run directories given: add --compare to compare "
                                   "them, or pass one")
        run = runs[0] if runs else run
        if run is None and storage is None and store is None:
            run = _default_run(study)
        result = load_leaderboard(study=study, storage=storage, store=store, task=task,
                                  grammar=grammar, run=run)
    _emit(result, fmt, top, out)


def _default_run(study: str | None) -> Path:
    """The run of ``study`` under ``runs/`` (with no study, the newest run)."""
    # bench.leaderboard (pandas) holds the run finder; not at `nas` start-up
    from bench.leaderboard.runs import find_study_run

    return find_study_run(study, RUNS_ROOT)


def _emit(result, fmt: str, top: int | None, out: Path | None) -> None:
    # pandas and plots: only this command needs the leaderboard (issue 16)
    from bench.leaderboard import render
    from bench.leaderboard.render import renderable

    if fmt == "table" and out is None:
        from rich.console import Console

        console = Console()
        console.print(renderable(result, top, console.width))
        return
    if out is not None:
        output_file(out, "--output", LeaderboardError, f"leaderboard.{fmt}")
    text = render(result, fmt, top=top, out_path=out)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out} ({fmt}, {len(text.encode()) / 1024:.0f} KiB)", err=True)
