"""``nas search`` (run or resume a search) and ``nas status`` (progress of a study)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer

from bench.storage import open_storage, redact, storage_url, with_driver
from nas.cli.config_options import config_command
from nas.cli.root import app
from nas.durations import format_duration
from nas.errors import NasError, StorageError
from nas.json_text import dumps
from nas.paths import input_dir
from nas.search.config import DEFAULT_STALE_AFTER_S, SearchConfig
from nas.search.progress import SearchProgress, budget_count

#: rows of the leaderboard printed when a search ends
TOP_ROWS = 5


@app.command("search")
@config_command(SearchConfig)
def search(
    config: SearchConfig,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary at the end "
                                 "(progress goes to stderr)."),
) -> None:
    """Search a grammar's architectures on a task; run it again to resume."""
    # torch and optuna: only the search itself needs them (issue 16)
    from nas.search import run_search

    _quiet_libraries()
    mode = "plain" if as_json or not sys.stdout.isatty() else "rich"
    stream = sys.stderr if as_json else sys.stdout
    if not as_json:
        typer.echo(f"search {config.study_name}: {config.strategy} on {config.task}, "
                   f"{_limits(config)}, {config.workers} worker(s); run directory "
                   f"{config.run_dir}")
    progress = SearchProgress(config.budget, mode=mode, stream=stream,
                              time_limit_s=config.time_limit_s)
    try:
        summary = run_search(config, progress, command=shlex.join(["nas", *sys.argv[1:]]))
    except KeyboardInterrupt as exc:  # typer would turn it into a silent exit 130
        if as_json and getattr(exc, "summary", None) is not None:
            typer.echo(dumps(exc.summary.to_json()))
        typer.echo("interrupted: finished evaluations are kept; the running one was failed "
                   "with reason 'interrupted' and will be re-run: run the same command to "
                   "resume", err=True)
        raise typer.Exit(130) from None
    if as_json:
        typer.echo(dumps(summary.to_json()))
        return
    _print_end(summary, config)


def _limits(config) -> str:
    """``budget 16``, ``time limit 20m`` or both."""
    parts = [f"budget {config.budget}"] if config.budget is not None else []
    if config.time_limit_s is not None:
        parts.append(f"time limit {format_duration(config.time_limit_s)}")
    return ", ".join(parts)


def _quiet_libraries() -> None:
    # optuna: only commands that open a study pay for it
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _print_end(summary, config) -> None:
    typer.echo(f"\n{summary.completed} completed, {summary.failed} failed "
               f"({_limits(config)}: {summary.stopped}); study {summary.study} in "
               f"{summary.storage}")
    if summary.best is None:
        typer.echo("no architecture completed yet: see the failure reasons with "
                   f"`nas status --run {config.run_dir}`")
        return
    _print_leaderboard(summary, config)
    _print_final(summary)
    typer.echo(f"\nresume or extend: run the same command again (e.g. with a larger "
               f"--budget or --time-limit); full ranking: nas leaderboard --run {config.run_dir}")


def _print_final(summary) -> None:
    """The winner of final selection (docs/search.md, "Final selection")."""
    final, best = summary.final, summary.best or {}
    if not final or best.get("cv_score") is None:
        return
    retrained = best.get("final_test_score")
    typer.echo(f"\nfinal selection: {best['arch_id']} (trial {best['trial_number']}) "
               f"cross-validated {best['cv_score']:.4f} over {final['folds']} folds of train + "
               f"validation, best of {len(final['finalists'])} finalist(s); test "
               f"{_num(best.get('test_score'))} as searched"
               + (f", {retrained:.4f} retrained on train + validation"
                  if retrained is not None else ""))
    if final.get("note"):
        typer.echo(f"  ({final['note']})")


def _print_leaderboard(summary, config) -> None:
    """The top architectures (rows of the leaderboard's frame) and their ONNX files."""
    from rich.console import Console
    from rich.table import Table

    try:
        # pandas: only the leaderboard at the end of a search needs it
        from bench.leaderboard import load_leaderboard

        storage = with_driver(storage_url(config.storage)) if config.storage else None
        board = load_leaderboard(study=summary.study, storage=storage,
                                 store=summary.store, run=config.run_dir)
        rows = [r._asdict() for r in board.rows.head(TOP_ROWS).itertuples()]
        metric = board.metric
    except (ImportError, NasError):  # no leaderboard: the best trial alone
        rows, metric = [{"rank": 1, **summary.best}], "score"
    console = Console()
    table = Table(title=f"top {len(rows)} by validation {metric}")
    for col in ("#", "arch id", "val", "test", "params", "ms", "origin", "architecture"):
        table.add_column(col, no_wrap=True)
    room = max(8, console.width - 80)  # what the other columns leave for the string
    for r in rows:
        table.add_row(str(r.get("rank", "")), str(r.get("arch_id")), _num(r.get("val_score")),
                      _num(r.get("test_score")), _num(r.get("params"), "{:,.0f}"),
                      _num(r.get("latency_ms"), "{:.2f}"), _origin(r.get("origin")),
                      _short(r.get("arch"), room))
    console.print(table)
    if summary.store:
        typer.echo("ONNX files:")
        for r in rows:
            path = r.get("onnx_path")
            if isinstance(path, str) and path:
                full = path if Path(path).is_absolute() or path.startswith(summary.store) \
                    else str(Path(summary.store) / path)
                typer.echo(f"  {r.get('arch_id')}  {full}")


def _origin(value) -> str:
    """Where it came from, short enough for an 80-column table: ``leaf`` for
    ``mutation:leaf``, ``ref:cnn`` for ``reference:cnn``."""
    if not isinstance(value, str):
        return "-"
    text = value.removeprefix("mutation:").replace("reference:", "ref:")
    return _short(text, 14)


def _num(value, fmt: str = "{:.4f}") -> str:
    try:
        return "-" if value is None or value != value else fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def _short(text, width: int = 60) -> str:
    text = str(text or "")
    return text if len(text) <= width else text[:width - 1] + "…"


@app.command("status")
def status(
    study: str = typer.Option(None, "--study", help="Study name (default: the run's)."),
    storage: str = typer.Option(None, "--storage", help="Optuna storage URL or file."),
    run: Path = typer.Option(None, "--run", help="Run directory (default: runs/<study>, "
                             "else the newest run under runs/)."),
    stale_after: float = typer.Option(DEFAULT_STALE_AFTER_S, "--stale-after", help="Seconds "
                                      "without a lease renewal that make a trial stale."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Progress of a study's workers: counts, per-worker counts, best so far, stale trials."""
    # optuna: only commands that open a study pay for it
    from nas.search import SearchStudy, study_status

    spec, name = _locate(study, storage, run)
    _quiet_libraries()
    state = study_status(SearchStudy.open(spec, name, create=False), stale_after)
    if as_json:
        typer.echo(dumps(state.to_json()))
        return
    _print_status(state)


def _locate(study: str | None, storage: str | None, run: Path | None) -> tuple[str, str]:
    """(storage spec, study name) from the options, a run.json, or the newest run."""
    if storage is not None:
        if study is None:
            study = _only_study(storage)
        return storage, study
    if run is None:
        run = _default_run(study)
    meta = _run_meta(run)
    spec = meta.get("storage") or "study.journal"
    if "://" not in spec and not Path(spec).is_absolute():
        spec = str(run / spec)
    return spec, study or meta.get("study") or run.name


def _default_run(study: str | None) -> Path:
    """The run of ``study`` under ``runs/`` (never another study's: issue 14)."""
    # bench.leaderboard (pandas) holds the run finder; not at `nas` start-up
    from bench.leaderboard.runs import find_study_run

    try:
        return find_study_run(study, "runs")
    except NasError as exc:
        hint = "" if "--storage" in str(exc) else "; or pass --study NAME --storage URL"
        raise StorageError(f"{exc}{hint}") from exc


def _run_meta(run: Path) -> dict:
    input_dir(run, "run directory", StorageError)
    path = run / "run.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise StorageError(f"{path} is not valid JSON ({exc}): fix or delete it") from exc


def _only_study(spec: str) -> str:
    names = [s.study_name for s in open_storage(spec, create=False).get_all_studies()]
    if len(names) != 1:
        raise StorageError(f"storage {redact(spec)} holds {len(names)} studies "
                           f"({', '.join(names) or 'none'}): pick one with --study")
    return names[0]


def _print_status(state) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    # pruned trials were evaluated too (up to a rung): they count against the budget
    count, over = budget_count(state.completed + state.failed + state.pruned, state.budget)
    outcomes = f"{state.completed} completed, {state.failed} failed" + (
        f", {state.pruned} pruned" if state.pruned else "")
    console.print(f"[bold]{state.study}[/] in {state.storage}: {count} evaluated "
                  f"({f'{over}; ' if over else ''}{outcomes}), {state.running} running, "
                  f"{state.requeued} re-queued, {state.discarded} discarded")
    if state.settings is not None:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(state.settings.items()))
        console.print(f"scores made with: {shown}; data {state.data}", highlight=False)
    if state.best:
        b = state.best
        console.print(f"best so far: {b['arch_id']} (trial {b['trial_number']}) "
                      f"{b.get('metric') or 'score'} {_num(b['val_score'])} validation, "
                      f"{_num(b['test_score'])} test")
        if b.get("cv_score") is not None:  # final selection's winner (docs/search.md)
            console.print(f"  final selection's winner: cross-validated {_num(b['cv_score'])} "
                          f"over {b['folds']} folds; retrained on train + validation: "
                          f"{_num(b.get('final_test_score'))} test", highlight=False)
    table = Table(title="workers")
    for col in ("worker", "completed", "failed", "running", "requeued", "discarded",
                "last seen"):
        table.add_column(col)
    for w in state.workers:
        seen = "-" if w["last_seen_s"] is None else f"{w['last_seen_s']:.0f} s ago"
        table.add_row(w["worker"], *(str(w[k]) for k in ("completed", "failed", "running",
                                                        "requeued", "discarded")), seen)
    console.print(table)
    for s in state.stale:
        console.print(f"[yellow]stale[/] trial {s['trial_number']} ({s['arch_id']}): "
                      f"{s['reason']}; the next worker to run fails it and re-runs its "
                      "architecture")
