"""Leaderboard plots, drawn with matplotlib (no pyplot state) and returned as inline SVG.

Each public function takes the data and returns the ``<svg>`` element as text.
"""

from __future__ import annotations

import functools
import io

import numpy as np
import pandas as pd

from bench.leaderboard.pareto import pareto_mask
from bench.leaderboard.references import PublishedFigure

# beyond this many points, scatter layers are embedded as one raster image in the SVG
# so that a 10,000-trial report stays small and opens fast
_RASTER_ABOVE = 1500
_STYLE = {
    "svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25,
    "axes.titlesize": 10, "axes.titleweight": "bold", "legend.fontsize": 8,
    "legend.frameon": False,
}


def _svg(draw):
    """Run ``draw(fig, *args)`` on a fresh figure under the report style; return inline SVG.

    The style is applied in an ``rc_context`` so that the caller's matplotlib settings
    are left as they were.
    """

    @functools.wraps(draw)
    def wrapper(*args, **kwargs) -> str:
        # matplotlib: only the HTML report's plots need it
        import matplotlib
        from matplotlib.figure import Figure

        with matplotlib.rc_context(_STYLE):
            fig = Figure(figsize=(6.4, 4.0), layout="constrained")
            draw(fig, *args, **kwargs)
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
        text = buf.getvalue()
        return text[text.index("<svg"):]  # drop the XML prologue: the SVG goes inline

    return wrapper


def _score_label(metric: str, maximize: bool) -> str:
    return f"validation {metric} ({'higher' if maximize else 'lower'} is better)"


#: matplotlib's default cycle (tab10), so that HTML can colour labels like the plots
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def colours(values, sort: bool = True) -> dict[str, str]:
    """Colour of each distinct value, as every plot here assigns them: in sorted order
    (grammars), or in order of first appearance with ``sort=False`` (runs, as given)."""
    names = list(dict.fromkeys(str(v) for v in values if v is not None and v == v))
    return {name: PALETTE[i % len(PALETTE)]
            for i, name in enumerate(sorted(names) if sort else names)}


def _order(by: str) -> bool:
    # runs keep the order the user gave them; grammars and strategies sort by name
    return by != "run"


@_svg
def score_vs_cost(fig, rows: pd.DataFrame, cost: str, metric: str, maximize: bool,
                  references: list[PublishedFigure] = (), title: str = "",
                  by: str = "grammar") -> None:
    """Scatter of validation score against ``cost`` (log axis), coloured by ``by``,
    with the Pareto front drawn as a step line and published figures as dashed lines."""
    ax = fig.add_subplot()
    palette = colours(rows[by], _order(by))
    data = rows[rows[cost].notna() & (rows[cost].astype(float) > 0)]
    raster = len(data) > _RASTER_ABOVE
    for name in palette:
        group = data[data[by].astype(str) == name]
        ax.scatter(group[cost].astype(float), group["val_score"], s=12, alpha=0.55,
                   color=palette[name], label=name, rasterized=raster, linewidths=0)
    x, y = data[cost].to_numpy(dtype=float), data["val_score"].to_numpy(dtype=float)
    front = pareto_mask(y, x, maximize)
    order = np.argsort(x[front])
    ax.step(x[front][order], y[front][order], where="post", color="black", lw=1.2,
            label="Pareto front")
    ax.scatter(x[front], y[front], s=30, facecolors="none", edgecolors="black", lw=1.1)
    _reference_lines(ax, references)
    ax.set_xscale("log")
    names = {"params": "parameters", "latency_ms": "onnxruntime latency (ms)"}
    ax.set_xlabel(names.get(cost, cost))
    ax.set_ylabel(_score_label(metric, maximize))
    ax.set_title(title or f"score vs {cost}")
    _legend(ax, markerscale=1.5)


def _legend(ax, **kwargs) -> None:
    if ax.get_legend_handles_labels()[0]:  # an empty legend only warns
        ax.legend(loc="best", **kwargs)


def _reference_lines(ax, references) -> None:
    """Published figures as dashed lines; labels of lines closer than 4% of the axis
    height are merged so that they stay readable."""
    if not references:
        return
    for ref in references:
        ax.axhline(ref.score, color="0.5", lw=0.8, ls="--", zorder=0)
    low, high = ax.get_ylim()
    groups: list[list] = []
    for ref in sorted(references, key=lambda r: r.score):
        if groups and ref.score - groups[-1][-1].score < 0.04 * (high - low):
            groups[-1].append(ref)
        else:
            groups.append([ref])
    for group in groups:
        label = ", ".join(r.name for r in group) + " (published)"
        ax.annotate(label, (1.0, group[-1].score), xycoords=("axes fraction", "data"),
                    xytext=(-3, 2), textcoords="offset points", fontsize=7, color="0.35",
                    ha="right", va="bottom")


@_svg
def best_so_far(fig, history: pd.DataFrame, by: str, x: str, metric: str, maximize: bool,
                references: list[PublishedFigure] = (), title: str = "") -> None:
    """Best validation score so far against evaluations (``x="evaluation"``) or wall time
    (``x="elapsed_s"``), one line per value of column ``by`` (run or strategy)."""
    ax = fig.add_subplot()
    scale, unit = _time_unit(history[x].max()) if x == "elapsed_s" else (1.0, "")
    palette = colours(history[by], _order(by))
    for name in palette:
        group = history[history[by].astype(str) == name]
        # evaluations are counted within each line; failures before the first success
        # count but have no best score to draw
        group = group.assign(n=np.arange(1, len(group) + 1)).dropna(subset=["best_so_far"])
        xs = group["n"] if x == "evaluation" else group[x] / scale
        ax.step(xs, group["best_so_far"], where="post", color=palette[name], lw=1.6, label=name)
    _reference_lines(ax, references)
    ax.set_xlabel("evaluations" if x == "evaluation" else f"wall time ({unit})")
    ax.set_ylabel(f"best {_score_label(metric, maximize)}")
    ax.set_title(title or "best so far")
    _legend(ax)


def _time_unit(seconds: float) -> tuple[float, str]:
    if not np.isfinite(seconds) or seconds < 300:
        return 1.0, "s"
    return (60.0, "min") if seconds < 3 * 3600 else (3600.0, "h")


@_svg
def distribution(fig, frame: pd.DataFrame, by: str, metric: str, maximize: bool,
                 title: str = "") -> None:
    """Box plot of validation scores per value of ``by`` (grammar or run), points overlaid."""
    ax = fig.add_subplot()
    palette = colours(frame[by], _order(by))
    groups = [(k, frame.loc[frame[by].astype(str) == k, "val_score"].dropna().to_numpy())
              for k in palette]
    groups = [(k, v) for k, v in groups if len(v)]
    ax.boxplot([v for _, v in groups], tick_labels=[f"{k}\n(n={len(v)})" for k, v in groups],
               showfliers=False, widths=0.5, medianprops={"color": "black"})
    rng = np.random.default_rng(0)  # fixed jitter: the same data draws the same picture
    raster = sum(len(v) for _, v in groups) > _RASTER_ABOVE
    for i, (name, values) in enumerate(groups):
        ax.scatter(i + 1 + rng.uniform(-0.18, 0.18, len(values)), values, s=7, alpha=0.4,
                   color=palette[name], rasterized=raster, linewidths=0)
    ax.set_ylabel(_score_label(metric, maximize))
    ax.set_title(title or f"score distribution per {by}")
