"""The ONNX-Bench record: index columns, their types, validation and text encoding.

One record is one evaluated architecture. The index table has exactly the columns of
docs/SCHEMA.md, in :data:`COLUMNS` order; the ONNX file carries the same fields in its
``metadata_props`` as text, with ``score`` (= ``val_score``) first.

Two forms of a record are used here:

* the *row* (index form): flat values, ``hparams`` as JSON text, ``None`` for missing;
  what the journals, ``index.parquet`` and :meth:`OnnxBenchStore.to_dataframe` hold;
* the *record* (Python form) returned by ``get()`` and iteration: the same, with
  ``hparams`` decoded to a dict.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Mapping

import onnx

from nas.errors import StoreError
from nas.onnx_cost import count_macs, count_params

#: column -> Python type, in index order (docs/SCHEMA.md)
COLUMNS: dict[str, type] = {
    "arch_id": str,
    "arch": str,
    "grammar": str,
    "grammar_hash": str,
    "task": str,
    "metric": str,
    "higher_is_better": bool,
    "val_score": float,
    "test_score": float,
    "params": int,
    "macs": int,
    "latency_ms": float,
    "train_seconds": float,
    "epochs": int,
    "hparams": dict,
    "seed": int,
    "exporter": str,
    "opset": int,
    "platform_version": str,
    "created_at": str,
    "onnx_path": str,
    "study": str,
    "trial_number": int,
    "strategy": str,
    "predicted_score": float,
    "source": str,
}

#: fields every record passed to ``add`` must have
REQUIRED = ("arch_id", "arch", "grammar", "task", "metric", "val_score")

#: metrics where lower is better, used when a record does not say ``higher_is_better``
LOWER_IS_BETTER = frozenset({"rmse", "mse", "mae", "loss", "error", "tour_length", "tour_ratio"})

SCORE_KEY = "score"
_ARCH_ID = re.compile(r"^[0-9a-f]{12}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
RESERVED_DIRS = frozenset({"index.d"})


def utc_now() -> str:
    """Current time, ISO 8601 in UTC with microseconds (sorts as text)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def path_component(name: str) -> str:
    """A directory name for a grammar or task name: unsafe characters become ``_``."""
    safe = _UNSAFE.sub("_", name).lstrip(".") or "_"
    return f"_{safe}" if safe in RESERVED_DIRS else safe


def relative_path(row: Mapping[str, object]) -> str:
    """``<grammar>/<task>/<arch_id>.onnx`` for a row (always ``/``-separated)."""
    grammar, task = path_component(str(row["grammar"])), path_component(str(row["task"]))
    return f"{grammar}/{task}/{row['arch_id']}.onnx"


def validate_record(record: Mapping[str, object]) -> dict[str, object]:
    """Check a user record and return its row (all columns, typed, ``None`` if absent).

    Raises StoreError naming the first unknown key, missing required field or value of
    the wrong type.
    """
    unknown = sorted(set(record) - set(COLUMNS))
    if unknown:
        raise StoreError(
            f"unknown record field(s) {', '.join(unknown)}; allowed: {', '.join(COLUMNS)}"
        )
    missing = [k for k in REQUIRED if record.get(k) is None or record.get(k) == ""]
    if missing:
        raise StoreError(f"record is missing required field(s): {', '.join(missing)}")
    row = {col: _coerce(col, record.get(col)) for col in COLUMNS}
    if not _ARCH_ID.match(str(row["arch_id"])):
        raise StoreError(
            f"arch_id {row['arch_id']!r} is not 12 lowercase hex digits (Architecture.id)"
        )
    if row["higher_is_better"] is None:
        row["higher_is_better"] = str(row["metric"]).lower() not in LOWER_IS_BETTER
    check_values(row)
    return row


#: metrics whose scores are shares (accuracy-like): every score lies in [0, 1]
SHARE_METRICS = frozenset({"accuracy", "sequence_accuracy", "bit_accuracy", "top1", "top5",
                           "f1", "auc", "roc_auc", "precision", "recall", "iou", "miou"})
#: metrics that are ratios to an optimum that cannot be beaten (a tour over the shortest)
RATIO_METRICS = frozenset({"tour_ratio"})
#: floats that must be non-negative whatever the metric
_NON_NEGATIVE = ("latency_ms", "train_seconds")


def score_range(metric: str) -> tuple[float, float, str]:
    """(low, high, why) that every score of ``metric`` must lie in.

    Accuracy-like metrics (:data:`SHARE_METRICS`, or a name ending in ``accuracy``) are
    shares in [0, 1]; errors and losses (:data:`LOWER_IS_BETTER`, or a name ending in
    ``error``/``loss``) are >= 0; :data:`RATIO_METRICS` are >= 1; any other metric only
    needs a finite number.
    """
    name = metric.strip().lower()
    if name in SHARE_METRICS or name.endswith("accuracy"):
        return 0.0, 1.0, "a share in [0, 1] (give 93.1% as 0.931)"
    if name in RATIO_METRICS:
        return 1.0, math.inf, "a ratio to the optimum, >= 1"
    if name in LOWER_IS_BETTER or name.endswith(("error", "loss")):
        return 0.0, math.inf, "an error, >= 0"
    return -math.inf, math.inf, "a finite number"


def check_values(row: Mapping[str, object]) -> None:
    """Refuse impossible numbers: NaN or infinite floats, scores outside their metric's
    range (:func:`score_range`), negative times. Raises StoreError naming the field."""
    for col, kind in COLUMNS.items():
        value = row.get(col)
        if kind is float and value is not None and not math.isfinite(value):
            raise StoreError(f"record field {col!r} is {value}: scores and measurements must "
                             "be finite numbers (leave the field empty if unknown)")
    low, high, why = score_range(str(row["metric"]))
    ratio_slack = 1e-9 if low == 1.0 else 0.0  # a ratio of float sums may round below 1
    for col in ("val_score", "test_score"):
        value = row.get(col)
        if value is not None and not low - ratio_slack <= value <= high:
            raise StoreError(f"record field {col!r} = {value} is impossible for metric "
                             f"{row['metric']!r}: it must be {why}")
    for col in _NON_NEGATIVE:
        value = row.get(col)
        if value is not None and value < 0:
            raise StoreError(f"record field {col!r} = {value} is negative")


def _coerce(col: str, value: object) -> object:
    """``value`` as column ``col``'s type; StoreError if it cannot be."""
    if _is_missing(value, COLUMNS[col]):
        return None
    kind = COLUMNS[col]
    try:
        if kind is dict:
            return _hparams_text(value)
        if kind is bool:
            return _to_bool(value)
        if kind is int:
            return _to_int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"record field {col!r} must be {kind.__name__}, got {value!r} ({exc})"
        ) from exc


def _is_missing(value: object, kind: type) -> bool:
    """None, pandas' NA/NaT, or a NaN standing in for a missing non-float value."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, float) and math.isnan(value) and kind is not float


def _to_bool(value: object) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError("expected true/false")
    return bool(value)


def _to_int(value: object) -> int:
    if isinstance(value, str):
        value = float(value) if any(c in value for c in ".eE") else int(value)
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("not a whole number")
    return int(value)  # type: ignore[arg-type]


def _hparams_text(value: object) -> str:
    """hparams as canonical JSON text (sorted keys) from a dict or JSON text."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, Mapping):
        raise ValueError("expected a dict")
    return json.dumps(dict(value), sort_keys=True, default=_json_default)


def _json_default(value: object) -> object:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def file_metadata(row: Mapping[str, object]) -> dict[str, object]:
    """The ``metadata_props`` for a row: ``score`` first, then every column (``None``
    values included, so that :func:`nas.export.set_metadata` removes stale keys)."""
    return {SCORE_KEY: row["val_score"], **{c: row.get(c) for c in COLUMNS}}


def row_from_metadata(meta: Mapping[str, str], onnx_path: str) -> dict[str, object]:
    """Rebuild a row from a file's metadata text; keys outside the schema are ignored.

    ``val_score`` falls back to ``score`` (files written by other ONNX-Bench tools).
    Raises StoreError if a required field is missing or a value does not parse.
    """
    values: dict[str, object] = {c: meta.get(c) for c in COLUMNS if meta.get(c, "") != ""}
    if "val_score" not in values and meta.get(SCORE_KEY, "") != "":
        values["val_score"] = meta[SCORE_KEY]
    values.pop("onnx_path", None)
    row = validate_record(values)
    row["onnx_path"] = onnx_path
    return row


def row_to_record(row: Mapping[str, object]) -> dict[str, object]:
    """The Python form of a row: ``hparams`` decoded to a dict."""
    record = dict(row)
    if isinstance(record.get("hparams"), str):
        record["hparams"] = json.loads(record["hparams"])  # type: ignore[arg-type]
    return record


def cost_figures(model: onnx.ModelProto, given: dict | None = None) -> dict[str, int]:
    """``params`` and ``macs`` of ``model``, counted from its graph.

    There is one definition of each (nas/onnx_cost.py, docs/export_store.md), so a value
    in ``given`` that differs from the count is an error, not a second opinion. (``add``
    counts what a record leaves out and trusts what it gives, as the count costs up to
    milliseconds per file: the search leaves both out, an import checks them here.)

    Raises:
        StoreError: ``given`` holds a ``params`` or ``macs`` the graph does not have.
    """
    counted = {"params": count_params(model), "macs": count_macs(model)}
    for key, value in counted.items():
        if (given or {}).get(key) not in (None, value):
            raise StoreError(
                f"{key} {given[key]} was given but the graph counts {value}: leave {key} "
                f"out, the store counts params and macs from the ONNX graph")
    return counted
