"""Durations as people read them: the one format of the progress line, the search's
start line and the leaderboard's report."""

from __future__ import annotations

import math


def format_duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``12s`` (rounded to the second); ``?`` when unknown (None,
    NaN or infinite)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
