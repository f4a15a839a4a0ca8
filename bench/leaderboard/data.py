"""Machine-readable renderers: CSV (the ranked rows) and JSON (rows plus context).

Both parse back with pandas: ``pd.read_csv(path)`` and
``pd.DataFrame(json.load(open(path))["rows"])``.
"""

from __future__ import annotations

import json

from bench.leaderboard.compare import Comparison
from bench.leaderboard.frame import Leaderboard
from nas.json_text import dumps

#: ``format`` field of the JSON documents, and their version
JSON_FORMAT = "nas-leaderboard"
JSON_COMPARE_FORMAT = "nas-leaderboard-compare"
JSON_VERSION = 1


def board_csv(board: Leaderboard, top: int | None = None) -> str:
    """The ranked rows as CSV, every column of ``leaderboard_frame`` (hparams as JSON text)."""
    rows = board.rows.head(top) if top else board.rows
    return rows.to_csv(index=False)


def _records(frame) -> list[dict]:
    # pandas writes NaN/NA as null and numpy scalars as plain JSON numbers
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def board_document(board: Leaderboard, top: int | None = None) -> dict:
    """The JSON document of a leaderboard (see docs/leaderboard.md)."""
    rows = _records(board.rows.head(top) if top else board.rows)
    for row in rows:  # an object in JSON rather than JSON-in-a-string
        row["hparams"] = _hparams_object(row.get("hparams"))
    return {
        "format": JSON_FORMAT, "version": JSON_VERSION, "label": board.label,
        "task": board.task, "metric": board.metric, "higher_is_better": board.maximize,
        "counts": board.counts, "reproducibility": board.reproducibility,
        "references": [{"name": r.name, "score": r.score, "source": r.source,
                        "published": True} for r in board.references],
        "columns": list(board.rows.columns), "rows": rows,
    }


def _hparams_object(text):
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:  # a store that wrote plain text: keep it as text
        return text


def board_json(board: Leaderboard, top: int | None = None) -> str:
    """:func:`board_document` as indented JSON text."""
    return dumps(board_document(board, top), indent=1) + "\n"


def compare_csv(comp: Comparison) -> str:
    """The comparison summary (one row per run) as CSV."""
    return comp.summary.to_csv(index=False)


def compare_json(comp: Comparison, top: int | None = None) -> str:
    """The comparison: summary rows, every run's best-so-far history, each run's board."""
    doc = {
        "format": JSON_COMPARE_FORMAT, "version": JSON_VERSION, "task": comp.task,
        "metric": comp.metric, "higher_is_better": comp.maximize,
        "runs": _records(comp.summary), "history": _records(comp.history),
        "boards": [board_document(b, top) for b in comp.boards],
    }
    return dumps(doc, indent=1) + "\n"
