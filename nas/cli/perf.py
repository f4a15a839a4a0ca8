"""``nas perf``: the benchmark command (one suite per area, medians, baselines in the same run)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from nas.cli.root import app, fail
from nas.json_text import dumps
from nas.paths import output_file
from nas.search.perf import available_suites, get_suite


@app.command("perf")
def perf(
    suites: list[str] = typer.Argument(None, help="Suites to run (default: all). "
                                       "See `nas perf --list`."),
    quick: bool = typer.Option(False, "--quick", help="Fewer repeats, smaller sizes."),
    as_json: bool = typer.Option(False, "--json", help="Print rows as JSON lines."),
    out: Path = typer.Option(None, "--out", "-o", help="Also write a Markdown table here."),
    list_only: bool = typer.Option(False, "--list", help="List the suites and exit."),
) -> None:
    """Measure the figures the issues ask for and print a table (medians)."""
    names = available_suites()
    if list_only:
        typer.echo("\n".join(names))
        return
    if out:
        output_file(out, "--out", example="perf.md")
    chosen = suites or names
    unknown = [s for s in chosen if s not in names]
    if unknown:
        fail(f"unknown perf suite(s) {', '.join(unknown)}; known: {', '.join(names)}")
    rows: list[dict] = []
    for name in chosen:
        started = time.perf_counter()
        typer.echo(f"== perf {name} ...", err=True)
        for row in get_suite(name)(quick):
            row = {"suite": name, **row}
            rows.append(row)
            if as_json:
                typer.echo(dumps(row))
        typer.echo(f"   {name} done in {time.perf_counter() - started:.1f}s", err=True)
    table = _markdown(rows)
    if not as_json:
        typer.echo(table)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table + "\n")
        typer.echo(f"wrote {out}", err=True)


def _markdown(rows: list[dict]) -> str:
    """Render rows (possibly with different keys) as one Markdown table."""
    if not rows:
        return "(no rows)"
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k, "")) for k in keys) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")
