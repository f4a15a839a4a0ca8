"""One entry point for every output format of a leaderboard or a comparison."""

from __future__ import annotations

from pathlib import Path

from bench.leaderboard import data, report, text
from bench.leaderboard.compare import Comparison
from bench.leaderboard.frame import Leaderboard
from nas.errors import LeaderboardError

#: output formats, as ``--format`` takes them
FORMATS = ("table", "md", "csv", "json", "html")


def render(result: Leaderboard | Comparison, fmt: str = "table", top: int | None = None,
           out_path: str | Path | None = None, width: int = 160) -> str:
    """Render a leaderboard or a comparison as text in format ``fmt``.

    Args:
        result: from :func:`load_leaderboard` or :func:`compare_runs`.
        fmt: one of :data:`FORMATS` (``table`` is plain text without colours).
        top: keep only the best ``top`` rows (plots and counts still use every row);
            the terminal table shows 20 when ``top`` is None, other formats all.
        out_path: where the text will be written; links to ONNX files are made
            relative to its folder.
        width: line width of the ``table`` format.

    Raises:
        LeaderboardError: for an unknown format or a non-positive ``top``.
    """
    if fmt not in FORMATS:
        raise LeaderboardError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if top is not None and top < 1:
        raise LeaderboardError(f"--top must be at least 1, got {top}")
    out = Path(out_path) if out_path is not None else None
    if isinstance(result, Comparison):
        return _render_comparison(result, fmt, top, out, width)
    return {
        "table": lambda: text.to_text(text.board_renderable(result, top, width), width),
        "md": lambda: text.board_markdown(result, top, out),
        "csv": lambda: data.board_csv(result, top),
        "json": lambda: data.board_json(result, top),
        "html": lambda: report.board_html(result, top, out),
    }[fmt]()


def _render_comparison(comp: Comparison, fmt: str, top: int | None, out: Path | None,
                       width: int) -> str:
    return {
        "table": lambda: text.to_text(text.compare_renderable(comp), width),
        "md": lambda: text.compare_markdown(comp, top),
        "csv": lambda: data.compare_csv(comp),
        "json": lambda: data.compare_json(comp, top),
        "html": lambda: report.compare_html(comp, top, out),
    }[fmt]()


def renderable(result: Leaderboard | Comparison, top: int | None = None,
               width: int | None = None):
    """The rich renderable of the ``table`` format (for printing with colours), with
    columns left out where ``width`` is too narrow for all of them."""
    if isinstance(result, Comparison):
        return text.compare_renderable(result)
    return text.board_renderable(result, top, width)
