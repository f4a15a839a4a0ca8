"""How numbers and strings look in rendered tables (terminal, Markdown, HTML)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

#: default width at which canonical architecture strings are cut in tables
ARCH_WIDTH = 48


def missing(value) -> bool:
    """Whether ``value`` is absent (None, NaN, pandas NA)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pd.NA are not equal to themselves
    except TypeError:  # pd.NA raises on bool()
        return True


def score(value, metric: str) -> str:
    """A score as text: percent for accuracy-like metrics in [0, 1], else 4 digits."""
    if missing(value):
        return "–"
    value = float(value)
    if "acc" in metric.lower() and 0.0 <= value <= 1.0:
        return f"{100 * value:.2f}%"
    return f"{value:.4g}"


def count(value) -> str:
    """A parameter or MAC count with a k/M/G suffix (3 significant digits)."""
    if missing(value):
        return "–"
    value = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}"


def millis(value) -> str:
    """A latency in milliseconds."""
    return "–" if missing(value) else f"{float(value):.3g} ms"


def seconds(value) -> str:
    """A duration given in seconds, in s, min or h."""
    if missing(value):
        return "–"
    value = float(value)
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min" if value < 7200 else f"{value / 3600:.2f} h"


def hparams(text) -> str:
    """Hyperparameters (JSON text) as ``key=value`` pairs with 3 significant digits."""
    if missing(text):
        return "–"
    try:
        values = json.loads(text)
    except (TypeError, ValueError):
        return str(text)
    if not isinstance(values, dict):
        return str(values)
    return ", ".join(f"{k}={_short_number(v)}" for k, v in values.items())


def _short_number(value) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.3g}"
    return str(value)


def shorten(text, width: int = ARCH_WIDTH) -> str:
    """``text`` cut to ``width`` characters with a trailing ellipsis when longer."""
    text = "" if missing(text) else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def pareto(on_params: bool, on_latency: bool) -> str:
    """The Pareto marker of a row: P (score vs params), L (score vs latency), PL, or ''."""
    return ("P" if on_params else "") + ("L" if on_latency else "")


def onnx_link(store_root: Path | None, onnx_path, out_path: Path | None) -> str | None:
    """Where the ONNX file of a row is, as seen from the rendered file's folder.

    Returns a relative path when both the store root and the output file are known, the
    path below the store root otherwise, and None when the row has no ONNX file.
    """
    if missing(onnx_path):
        return None
    if store_root is None:
        return str(onnx_path)
    target = Path(store_root) / str(onnx_path)
    start = Path(out_path).resolve().parent if out_path else Path.cwd()
    return Path(os.path.relpath(target.resolve(), start)).as_posix()
