"""Import foreign ONNX files (any valid model, made anywhere) with their scores.

The CSV has one row per model::

    path,score,metric,task,name
    models/resnet_a.onnx,0.931,accuracy,cifar10,resnet-a

``path`` (required) is relative to the CSV's directory or absolute. ``score`` may be left
empty when the file already has ``metadata_props`` key ``score``. Optional columns:
``metric``, ``task``, ``name`` (stored as ``arch``; default: the file stem),
``higher_is_better``, ``test_score``, ``params``, ``macs``, ``latency_ms``,
``train_seconds``, ``epochs``, ``seed``, ``hparams`` (JSON).

Every row is checked before anything is written, so a bad row imports nothing. Files are
copied to ``foreign/<task>/<arch_id>.onnx`` where ``arch_id`` is the first 12 hex digits
of the sha256 of the original file, so importing the same file again is idempotent.
Metadata already in the file is kept; the store's keys are added (``score`` moved first).
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import onnx

from bench.store.schema import SCORE_KEY
from nas.errors import StoreError
from nas.onnx_file import read_metadata

GRAMMAR = "foreign"
REQUIRED_COLUMNS = ("path",)
OPTIONAL_COLUMNS = ("score", "metric", "task", "name", "higher_is_better", "test_score",
                    "params", "macs", "latency_ms", "train_seconds", "epochs", "seed",
                    "hparams")
_RECORD_COLUMNS = ("higher_is_better", "test_score", "params", "macs", "latency_ms",
                   "train_seconds", "epochs", "seed", "hparams")


def import_scores(store, csv_path, *, task=None, metric=None, higher_is_better=None):
    """Check every row of ``csv_path`` and add its model to ``store`` under grammar ``foreign``.

    ``task`` / ``metric`` / ``higher_is_better`` are defaults for rows that leave those
    columns empty (defaults: ``unknown``, ``accuracy``, from the metric). Returns the
    stored records. Raises StoreError naming the CSV line for a missing or unreadable
    file, an invalid model, a missing score, or an unknown column.
    """
    csv_path = Path(csv_path)
    rows = _read_csv(csv_path)
    defaults = {"task": task or "unknown", "metric": metric or "accuracy"}
    if higher_is_better is not None:
        defaults["higher_is_better"] = higher_is_better
    prepared = [_prepare(csv_path, line, row, defaults) for line, row in rows]
    _refuse_duplicates(csv_path, prepared)
    records = [store.add(model, record, refresh_index=False) for _, model, record in prepared]
    store.refresh_index()
    return records


def _read_csv(csv_path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in reader.fieldnames or []]
            _check_columns(csv_path, columns)
            return [(i + 2, {k.strip(): (v or "").strip() for k, v in row.items() if k})
                    for i, row in enumerate(reader)]
    except FileNotFoundError as exc:
        raise StoreError(f"score file {csv_path} not found") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise StoreError(f"cannot read score file {csv_path}: {exc}") from exc


def _check_columns(csv_path: Path, columns: list[str]) -> None:
    if "path" not in columns:
        raise StoreError(f"{csv_path} needs a 'path' column (and 'score' unless the files "
                         f"carry metadata_props 'score'); found: {', '.join(columns) or 'none'}")
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise StoreError(f"{csv_path}: unknown column(s) {', '.join(unknown)}; allowed: "
                         f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}")


def _prepare(csv_path: Path, line: int, row: dict[str, str], defaults: dict):
    """(model file, ModelProto, record) for one CSV row, fully validated."""
    where = f"{csv_path}:{line}"
    if not row.get("path"):
        raise StoreError(f"{where}: empty 'path'")
    file = Path(row["path"])
    file = file if file.is_absolute() else csv_path.parent / file
    data = _read_bytes(file, where)
    model = _parse(data, file, where)
    score = row.get("score") or read_metadata(model).get(SCORE_KEY, "")
    if not score:
        raise StoreError(f"{where}: no score for {file}: fill the 'score' column or give the "
                         "file metadata_props key 'score'")
    record = {
        **defaults,
        **{k: row[k] for k in ("task", "metric") if row.get(k)},
        **{k: row[k] for k in _RECORD_COLUMNS if row.get(k)},
        "arch_id": hashlib.sha256(data).hexdigest()[:12],
        "arch": row.get("name") or file.stem,
        "grammar": GRAMMAR,
        "val_score": score,
        "source": "import",
    }
    return file, model, record


def _read_bytes(file: Path, where: str) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError as exc:
        raise StoreError(f"{where}: ONNX file {file} not found") from exc
    except OSError as exc:
        raise StoreError(f"{where}: cannot read {file}: {exc.strerror}") from exc


def _parse(data: bytes, file: Path, where: str) -> onnx.ModelProto:
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:
        raise StoreError(f"{where}: {file} is not an ONNX model (corrupt or truncated: "
                         f"{type(exc).__name__})") from exc
    if not model.HasField("graph") or not model.graph.node:
        raise StoreError(f"{where}: {file} is not an ONNX model (no graph); is it truncated?")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"{where}: {file} fails onnx.checker: {first}") from exc
    return model


def _refuse_duplicates(csv_path: Path, prepared) -> None:
    seen: dict[tuple[str, str], Path] = {}
    for file, _, record in prepared:
        key = (record["arch_id"], str(record["task"]))
        if key in seen:
            raise StoreError(f"{csv_path}: {seen[key]} and {file} are the same model "
                             f"(sha256 {record['arch_id']}) for task {key[1]!r}; list it once")
        seen[key] = file


__all__ = ["GRAMMAR", "import_scores"]
