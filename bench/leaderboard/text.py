"""Text renderers: the terminal table (rich) and Markdown that renders on GitHub."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from bench.leaderboard import cells
from bench.leaderboard.compare import Comparison
from bench.leaderboard.frame import Leaderboard

#: rows the terminal table shows when no --top is given
TERMINAL_TOP = 20
PARETO_NOTE = "Pareto: P = on the front of score vs parameters, L = of score vs latency"


def headline(board: Leaderboard) -> str:
    """One line saying what is ranked and how many evaluations it comes from."""
    c = board.counts
    failed = f", {c['failed']} failed" if c["failed"] else ""
    return (f"{board.task or 'unknown task'} · validation {board.metric} "
            f"({'higher' if board.maximize else 'lower'} is better) · "
            f"{len(board.rows)} architectures from {c['finished']} evaluations{failed}")


def _optional(board: Leaderboard) -> dict[str, bool]:
    """Which optional columns hold any value (the others are left out of tables)."""
    rows = board.rows
    return {col: bool(rows[col].notna().any())
            for col in ("test_score", "latency_ms", "predicted_score", "macs", "origin")}


# ---------------------------------------------------------------- terminal (rich)

def board_renderable(board: Leaderboard, top: int | None = None, width: int | None = None):
    """A rich renderable: headline, ranking, published figures, short reproducibility.

    On a console narrower than the table, the least useful columns are left out
    (MACs first, then test score, training time, latency) and the architecture string
    is cut.
    """
    shown = board.rows.head(top or TERMINAL_TOP)
    columns = _fit(_terminal_columns(board, shown), width)
    table = Table(title=f"Leaderboard: {board.label}", caption=headline(board),
                  header_style="bold", title_style="bold", caption_justify="left")
    for name, justify, _, _ in columns:
        # only the architecture column gives way (its strings have no spaces, so
        # "wrapping" cuts them with an ellipsis)
        table.add_column(name, justify=justify, no_wrap=name != "architecture",
                         overflow="ellipsis", min_width=12 if name == "architecture" else None)
    for i, on_front in enumerate(shown["pareto_params"]):
        table.add_row(*(col[2][i] for col in columns), style="bold" if on_front else None)
    parts = [table, Text(PARETO_NOTE, style="dim")]
    if len(board.rows) > len(shown):
        parts.append(Text(f"showing {len(shown)} of {len(board.rows)} (use --top N)", style="dim"))
    if board.references:
        parts.append(_references_table(board))
    parts.append(_repro_table(board.reproducibility))
    return Group(*parts)


def _terminal_columns(board: Leaderboard, shown: pd.DataFrame) -> list[tuple]:
    """(header, justify, cells, drop order) of each column that has any value."""
    m, has = board.metric, _optional(board)
    cols = [("#", "right", [str(v) for v in shown["rank"]], 99),
            ("arch id", "left", list(shown["arch_id"].astype(str)), 99),
            ("grammar", "left", list(shown["grammar"].astype(str)), 98),
            ("architecture", "left", [cells.shorten(a, 36) for a in shown["arch"]], 97),
            ("val", "right", [cells.score(v, m) for v in shown["val_score"]], 99),
            ("test", "right", [cells.score(v, m) for v in shown["test_score"]], 2),
            ("params", "right", [cells.count(v) for v in shown["params"]], 96),
            ("MACs", "right", [cells.count(v) for v in shown["macs"]], 1),
            ("latency", "right", [cells.millis(v) for v in shown["latency_ms"]], 4),
            ("pred.", "right", [cells.score(v, m) for v in shown["predicted_score"]], 5),
            ("train", "right", [cells.seconds(v) for v in shown["train_seconds"]], 3),
            ("origin", "left", [_origin(v) for v in shown["origin"]], 6),
            ("Pareto", "center", list(map(cells.pareto, shown["pareto_params"],
                                          shown["pareto_latency"])), 95)]
    optional = {"test": "test_score", "MACs": "macs", "latency": "latency_ms",
                "pred.": "predicted_score", "origin": "origin"}
    return [c for c in cols if c[0] not in optional or has[optional[c[0]]]]


def _origin(value) -> str:
    """Where an architecture came from (``reference:cnn``, ``mutation:leaf``, ...)."""
    return "" if cells.missing(value) else str(value)


def _fit(columns: list[tuple], width: int | None) -> list[tuple]:
    """Drop columns, lowest priority first, until the table fits ``width`` characters."""
    def needed(cols):  # content + padding and border, architecture at its minimum
        return 1 + sum(3 + (14 if c[0] == "architecture" else
                            max([len(c[0]), *map(len, c[2])])) for c in cols)

    columns = list(columns)
    while width and needed(columns) > width and min(c[3] for c in columns) < 90:
        columns.remove(min(columns, key=lambda c: c[3]))
    return columns


def _references_table(board: Leaderboard):
    table = Table(title="Published figures (not measured here, not ranked)", title_style="bold",
                  header_style="bold")
    for name in ("model", board.metric, "source"):
        table.add_column(name)
    for ref in board.references:
        table.add_row(ref.name, cells.score(ref.score, board.metric), ref.source)
    return table


def _repro_table(info: dict[str, str]):
    table = Table(title="Reproducibility", title_style="bold", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in info.items():
        table.add_row(key, value)
    return table


def compare_renderable(comp: Comparison):
    """A rich renderable: the comparison summary, one row per run."""
    table = Table(title=f"Comparison on {comp.task or 'unknown task'} "
                        f"(validation {comp.metric}, "
                        f"{'higher' if comp.maximize else 'lower'} is better)",
                  title_style="bold", header_style="bold")
    heads = ["run", "strategy", "grammar", "evals", "failed", f"best val {comp.metric}",
             "its test", "best arch", "params", "evals to best", "wall time"]
    for name in heads:
        table.add_column(name, justify="left" if name in heads[:3] + ["best arch"] else "right")
    for row in summary_cells(comp):
        table.add_row(*row)
    return table


def summary_cells(comp: Comparison) -> list[list[str]]:
    """The comparison summary as display text, one list of cells per run."""
    out = []
    for r in comp.summary.itertuples(index=False):
        out.append([r.run, r.strategy, r.grammar, str(r.evaluations), str(r.failed),
                    cells.score(r.best_val_score, comp.metric),
                    cells.score(r.test_score_of_best, comp.metric), str(r.best_arch_id),
                    cells.count(r.best_params),
                    "–" if cells.missing(r.evaluations_to_best) else str(r.evaluations_to_best),
                    cells.seconds(r.wall_time_s)])
    return out


def to_text(renderable, width: int = 160) -> str:
    """Plain text (no colour codes) of a rich renderable."""
    buf = io.StringIO()
    Console(file=buf, width=width, no_color=True, force_terminal=False,
            color_system=None).print(renderable)
    return buf.getvalue()


# ---------------------------------------------------------------- Markdown

def _md(text) -> str:
    """Escape a cell for a GitHub table (pipes and line breaks)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(heads: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join("---" for _ in heads) + "|"]
    return lines + ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]


def board_markdown(board: Leaderboard, top: int | None = None,
                   out_path: Path | None = None) -> str:
    """The leaderboard as GitHub-flavoured Markdown."""
    shown = board.rows.head(top) if top else board.rows
    lines = [f"# Leaderboard: {board.label}", "", headline(board), ""]
    lines += _md_ranking(board, shown, out_path)
    lines += ["", f"*{PARETO_NOTE}.*"]
    if len(shown) < len(board.rows):
        lines += ["", f"*Showing the top {len(shown)} of {len(board.rows)} architectures.*"]
    lines += _md_references(board)
    lines += ["", "## Reproducibility", ""]
    lines += _md_table(["", ""], [[f"**{k}**", v] for k, v in board.reproducibility.items()])
    lines += ["", "<details><summary>Full architecture strings</summary>", ""]
    lines += [f"{r.rank}. `{r.arch_id}`: `{r.arch}`" for r in shown.itertuples(index=False)]
    return "\n".join([*lines, "", "</details>", ""])


def _md_ranking(board: Leaderboard, shown: pd.DataFrame, out_path) -> list[str]:
    has = _optional(board)
    heads = ["rank", "arch id", "grammar", "architecture", f"val {board.metric}"]
    heads += [f"test {board.metric}"] * has["test_score"] + ["params"] + ["MACs"] * has["macs"]
    heads += ["latency"] * has["latency_ms"] + ["predicted"] * has["predicted_score"]
    heads += ["origin"] * has["origin"] + ["train", "hparams", "Pareto", "ONNX"]
    rows = []
    for r in shown.itertuples(index=False):
        mark = cells.pareto(r.pareto_params, r.pareto_latency)
        row = [f"**{r.rank}**" if mark else str(r.rank), f"`{r.arch_id}`", str(r.grammar),
               f"`{cells.shorten(r.arch)}`", cells.score(r.val_score, board.metric)]
        row += [cells.score(r.test_score, board.metric)] * has["test_score"]
        row += [cells.count(r.params)] + [cells.count(r.macs)] * has["macs"]
        row += [cells.millis(r.latency_ms)] * has["latency_ms"]
        row += [cells.score(r.predicted_score, board.metric)] * has["predicted_score"]
        row += [_origin(r.origin)] * has["origin"]
        link = cells.onnx_link(board.store_root, r.onnx_path, out_path)
        row += [cells.seconds(r.train_seconds), cells.hparams(r.hparams), f"**{mark}**" if mark
                else "", f"[onnx]({link.replace(' ', '%20')})" if link else "–"]
        rows.append(row)
    return _md_table(heads, rows)


def _md_references(board: Leaderboard) -> list[str]:
    if not board.references:
        return []
    lines = ["", "## Published figures", "",
             "*Reported in the literature for this task; not measured here and not ranked.*", ""]
    rows = [[r.name, cells.score(r.score, board.metric), r.source] for r in board.references]
    return lines + _md_table(["model", board.metric, "source"], rows)


def compare_markdown(comp: Comparison, top: int | None = None) -> str:
    """The comparison as Markdown: the summary, then each run's top rows."""
    heads = ["run", "strategy", "grammar", "evals", "failed", f"best val {comp.metric}",
             "its test", "best arch", "params", "evals to best", "wall time"]
    lines = [f"# Comparison on {comp.task or 'unknown task'}", "",
             f"Validation {comp.metric}, {'higher' if comp.maximize else 'lower'} is better.", ""]
    lines += _md_table(heads, summary_cells(comp))
    lines += _md_references(comp.boards[0])
    for board in comp.boards:
        shown = board.rows.head(top or 5)
        lines += ["", f"## {board.label}: top {len(shown)}", ""]
        lines += _md_ranking(board, shown, None)
    return "\n".join([*lines, ""])
