"""Leaderboards: rank evaluated architectures and render them as tables, files and reports.

    from bench.leaderboard import leaderboard_frame, load_leaderboard, render
    frame = leaderboard_frame(run="runs/mnist1d-re")          # pandas DataFrame
    html = render(load_leaderboard(run="runs/mnist1d-re"), "html")

See docs/leaderboard.md for the columns, formats and the run-directory convention.
"""

from bench.leaderboard.compare import SUMMARY_COLUMNS, Comparison, compare_runs
from bench.leaderboard.frame import (
    COLUMNS,
    HISTORY_COLUMNS,
    Leaderboard,
    leaderboard_frame,
    load_leaderboard,
)
from bench.leaderboard.pareto import pareto_mask
from bench.leaderboard.references import PublishedFigure, published_figures
from bench.leaderboard.render import FORMATS, render
from bench.leaderboard.runs import RunPaths, find_latest_run, find_study_run, resolve_run

__all__ = [
    "COLUMNS", "FORMATS", "HISTORY_COLUMNS", "SUMMARY_COLUMNS", "Comparison", "Leaderboard",
    "PublishedFigure", "RunPaths", "compare_runs", "find_latest_run", "find_study_run",
    "leaderboard_frame",
    "load_leaderboard", "pareto_mask", "published_figures", "render", "resolve_run",
]
