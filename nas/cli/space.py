"""``nas sample``, ``nas validate``, ``nas grammars``: the search space from the shell."""

from __future__ import annotations

import gc
import sys
from contextlib import contextmanager
from pathlib import Path

import typer

from nas.cli.root import app, fail
from nas.errors import ArchitectureError, NasError
from nas.heads import HeadSpec
from nas.json_text import dumps
from nas.paths import read_text


def _space(grammar: str, max_nodes: int | None = None, max_params: int | None = None):
    # lark and the op tables: only where a space is used
    from nas.derive import Limits
    from nas.space import load_space

    for flag, value in (("--max-nodes", max_nodes), ("--max-params", max_params)):
        if value is not None and value < 1:
            fail(f"{flag} must be at least 1, got {value}")
    if max_nodes is None and max_params is None:
        return load_space(grammar)
    base = Limits()
    limits = Limits(**{**base.__dict__,
                       "max_nodes": max_nodes or base.max_nodes,
                       "max_params": max_params or base.max_params})
    return load_space(grammar, limits)


def _head(task: str | None, n_classes: int | None, input_shape):
    if task:
        from bench.tasks import get_task  # torch: only a task's data needs it (issue 16)

        spec = get_task(task)
        return spec.input_shape, spec.head
    if n_classes:
        return input_shape, HeadSpec("classification", n_classes)
    return input_shape, None


@app.command("sample")
def sample(
    grammar: str = typer.Option("einspace", "--grammar", "-g",
                                help="Built-in grammar name or path to a .lark file."),
    n: int = typer.Option(5, "-n", help="How many architectures."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first sample (then seed+1...)."),
    input_shape: str = typer.Option("1x8x8", "--input-shape", "-s",
                                    help="Per-sample input shape: 1x28x28, 40x1 or 13."),
    task: str = typer.Option(None, "--task", help="Use this task's input shape and head."),
    classes: int = typer.Option(None, "--classes", help="Add a classification head."),
    max_nodes: int = typer.Option(None, "--max-nodes", help="Node limit while sampling."),
    max_params: int = typer.Option(None, "--max-params", help="Parameter limit."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Sample valid architectures from a grammar."""
    from nas.space import parse_shape  # lark and the op tables: only where a space is used

    if n < 1:
        fail("-n must be at least 1")
    if classes is not None and classes < 2:
        fail(f"--classes must be at least 2, got {classes}")
    space = _space(grammar, max_nodes, max_params)
    shape, head = _head(task, classes, parse_shape(input_shape))
    with _cycle_collector_paused():
        for i in range(n):
            arch, typed = space.sample_typed(shape, seed=seed + i, head=head)
            if as_json:
                typer.echo(dumps({
                    "arch": str(arch), "id": arch.id, "grammar": space.name,
                    "params": typed.params, "macs": typed.macs, "nodes": typed.nodes,
                    "depth": typed.depth, "output_shape": list(typed.output_shape),
                    "seed": seed + i,
                }))
            else:
                typer.echo(f"{arch.id}  params={typed.params:<8} nodes={typed.nodes:<3} {arch}")
        # dropped here in milliseconds; left to the interpreter's exit, whose collections
        # traverse them, the caches cost `nas sample -n 2000` half a second more
        space.clear_caches()


@contextmanager
def _cycle_collector_paused():
    """Pause Python's cycle collector (memory is still freed by reference counting).

    The sampler's caches grow to some 10^5 long-lived objects and sampling makes no
    reference cycles; the collector's repeated passes over those caches took about a
    fifth of `nas sample`'s time (issue 16).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@app.command("validate")
def validate(
    architecture: str = typer.Argument(None, help="An architecture string, or '-' to read "
                                       "lines from stdin."),
    grammar: str = typer.Option("einspace", "--grammar", "-g"),
    input_shape: str = typer.Option("1x8x8", "--input-shape", "-s"),
    file: Path = typer.Option(None, "--file", "-f", help="Read one architecture per line."),
    task: str = typer.Option(None, "--task", help="Check against this task's shape and head."),
    limits: bool = typer.Option(False, "--limits", help="Also require the sampling limits "
                                "(nodes, depth, params, MACs; see --max-nodes/--max-params)."),
    max_nodes: int = typer.Option(None, "--max-nodes", help="Node limit for --limits."),
    max_params: int = typer.Option(None, "--max-params", help="Parameter limit for --limits."),
) -> None:
    """Check architecture strings: exit 0 if all are valid, 1 with one error line each if not.

    Valid means: the string parses and every op accepts its input shape. A valid
    architecture may still exceed the sampling limits (a search never proposes it, but
    export and evaluation work); the line says so, and --limits makes that invalid.
    """
    from nas.space import parse_shape  # lark and the op tables: only where a space is used

    lines = _read_architectures(architecture, file)
    space = _space(grammar, max_nodes, max_params)
    shape, head = _head(task, None, parse_shape(input_shape))
    bad = 0
    for lineno, text in lines:
        where = f"line {lineno}: " if len(lines) > 1 else ""
        try:
            arch = space.parse(text)
            typed = space.check(arch, shape, head)
        except ArchitectureError as exc:
            bad += 1
            typer.echo(f"invalid: {where}{exc}", err=True)
            continue
        exceeded = space.limits_exceeded(typed)
        if exceeded and limits:
            bad += 1
            typer.echo(f"invalid: {where}{arch.id} exceeds the sampling limits: "
                       f"{', '.join(exceeded)}", err=True)
            continue
        note = f"; outside the sampling limits: {', '.join(exceeded)}" if exceeded else ""
        typer.echo(f"valid: {where}{arch.id} params={typed.params} nodes={typed.nodes} "
                   f"depth={typed.depth} output={'x'.join(map(str, typed.output_shape))}{note}")
    if bad:
        raise typer.Exit(1)


def _read_architectures(architecture: str | None, file: Path | None) -> list[tuple[int, str]]:
    if file is not None:
        text = read_text(file, "--file")
    elif architecture in (None, "-"):
        if architecture is None and sys.stdin.isatty():
            raise NasError("give an architecture string, --file FILE, or '-' to read stdin")
        text = sys.stdin.read()
    else:
        return [(1, architecture)]
    lines = [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise NasError("no architecture strings found in the input")
    return lines


@app.command("grammars")
def grammars(
    ops: bool = typer.Option(False, "--ops", help="List the registered ops instead."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List the built-in grammars (families, hash, reference architectures)."""
    if ops:
        # the op tables: only where they are listed
        from nas.ops import all_ops

        rows = [{"op": s.name, "kind": s.kind, "doc": s.doc} for s in all_ops().values()]
    else:
        # lark: only where grammars are read
        from nas.grammar import load_grammar
        from nas.space import list_grammars

        rows = []
        for name in list_grammars():
            g = load_grammar(name)
            rows.append({"grammar": name, "hash": g.hash, "about": _summary(g.text),
                         "references": ", ".join(g.references)})
    if as_json:
        for row in rows:
            typer.echo(dumps(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*rows[0].keys())
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    Console().print(table)


def _summary(text: str) -> str:
    first = next((line for line in text.splitlines() if line.startswith("//")), "// ")
    about = first.lstrip("/ ").split(":", 1)[-1].strip()
    return about if len(about) <= 48 else about[:45].rsplit(" ", 1)[0] + "..."
