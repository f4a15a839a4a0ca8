"""Import foreign ONNX files (any valid model, made anywhere) with their scores.

The CSV has one row per model::

    path,score,metric,task,name
    models/resnet_a.onnx,0.931,accuracy,cifar10,resnet-a

``path`` (required) is relative to the CSV's directory or absolute. ``score`` may be left
empty when the file already has ``metadata_props`` key ``score``. Optional columns:
``metric``, ``task``, ``name`` (stored as ``arch``; default: the file stem),
``higher_is_better``, ``test_score``, ``params``, ``macs``, ``latency_ms``,
``train_seconds``, ``epochs``, ``seed``, ``hparams`` (JSON). ``params`` and ``macs`` are
counted from the graph in any case; given, they must equal that count.

Every row is checked before anything is written, so a bad row imports nothing. Files are
copied to ``foreign/<task>/<arch_id>.onnx`` where ``arch_id`` is the first 12 hex digits
of the sha256 of the original file, so importing the same file again is idempotent.
Metadata already in the file is kept; the store's keys are added (``score`` moved first).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import onnx

from bench.store.schema import (
    SCORE_KEY,
    cost_figures,
    relative_path,
    row_to_record,
    validate_record,
)
from nas.errors import StoreError
from nas.onnx_file import read_metadata
from nas.paths import input_file, read_text

GRAMMAR = "foreign"
REQUIRED_COLUMNS = ("path",)
OPTIONAL_COLUMNS = ("score", "metric", "task", "name", "higher_is_better", "test_score",
                    "params", "macs", "latency_ms", "train_seconds", "epochs", "seed",
                    "hparams")
_RECORD_COLUMNS = ("higher_is_better", "test_score", "params", "macs", "latency_ms",
                   "train_seconds", "epochs", "seed", "hparams")


#: fields that say when and by what a record was written, not what it says
_BOOKKEEPING = ("created_at", "platform_version", "onnx_path")


@dataclass(frozen=True)
class Change:
    """One record an import overwrote: its key and the fields that changed (old, new)."""

    onnx_path: str
    line: int
    fields: dict[str, tuple[object, object]]

    def describe(self) -> str:
        """``foreign/t/ab12.onnx (line 3): val_score 0.5 -> 0.6``"""
        changes = ", ".join(f"{k} {_text(old)} -> {_text(new)}"
                            for k, (old, new) in self.fields.items())
        return f"{self.onnx_path} (line {self.line}): {changes}"


@dataclass(frozen=True)
class ImportReport:
    """What an import did: ``records`` (every row's record, in CSV order) of which
    ``new`` were not in the store, ``updated`` overwrote a different record (see
    :class:`Change`) and ``unchanged`` were already stored exactly so (not rewritten)."""

    records: tuple[dict, ...]
    new: int
    updated: tuple[Change, ...]
    unchanged: int

    def summary(self) -> str:
        """One line for the CLI: ``2 new, 1 updated, 3 unchanged``."""
        return f"{self.new} new, {len(self.updated)} updated, {self.unchanged} unchanged"


@dataclass(frozen=True)
class ScoreFile:
    """A score CSV whose every row has been checked (:func:`read_score_file`); nothing
    has been written anywhere yet."""

    path: Path
    items: tuple[_Prepared, ...]


def read_score_file(csv_path, *, task=None, metric=None,
                    higher_is_better=None) -> ScoreFile:
    """Read and check every row of ``csv_path`` without touching a store (so that a bad
    CSV leaves nothing behind, not even a new store's directory).

    ``task`` / ``metric`` / ``higher_is_better`` are defaults for rows that leave those
    columns empty (defaults: ``unknown``, ``accuracy``, from the metric). Raises
    StoreError naming the CSV line for a missing or unreadable file, an invalid model, a
    missing or impossible score (NaN, infinite, outside its metric's range), a value of
    the wrong type, a model listed twice, or an unknown column.
    """
    csv_path = Path(csv_path)
    rows = _read_csv(csv_path)
    defaults = {"task": task or "unknown", "metric": metric or "accuracy"}
    if higher_is_better is not None:
        defaults["higher_is_better"] = higher_is_better
    prepared = tuple(_prepare(csv_path, line, row, defaults) for line, row in rows)
    _refuse_duplicates(csv_path, prepared)
    return ScoreFile(csv_path, prepared)


def import_scores(store, scores, *, task=None, metric=None,
                  higher_is_better=None) -> ImportReport:
    """Add the models of a score CSV to ``store`` under grammar ``foreign``.

    ``scores`` is the CSV's path, checked here by :func:`read_score_file` (with ``task``,
    ``metric`` and ``higher_is_better``), or a :class:`ScoreFile` it returned. A row
    whose record is already stored unchanged is not rewritten. Returns an
    :class:`ImportReport`; raises StoreError as :func:`read_score_file` does.
    """
    if not isinstance(scores, ScoreFile):
        scores = read_score_file(scores, task=task, metric=metric,
                                 higher_is_better=higher_is_better)
    stored = {row["onnx_path"]: row for row in store.state().rows}
    records, new, updated, unchanged = [], 0, [], 0
    for item in scores.items:
        old = stored.get(relative_path(item.row))
        diff = _differences(old, item.row) if old is not None else None
        if diff == {}:
            unchanged += 1
            records.append(row_to_record(old))
            continue
        records.append(store.add(item.model, item.record, refresh_index=False))
        if diff is None:
            new += 1
        else:
            updated.append(Change(relative_path(item.row), item.line, diff))
    store.refresh_index()
    return ImportReport(tuple(records), new, tuple(updated), unchanged)


def _differences(old: dict, new: dict) -> dict[str, tuple[object, object]]:
    """Fields (other than bookkeeping) whose values differ, score first; ``{}`` if none.

    ``new`` is a validated row before the store fills in what it derives (params, macs,
    exporter, ...): a field it leaves empty keeps the stored value, so it is no change.
    """
    return {k: (old.get(k), v) for k, v in new.items()
            if k not in _BOOKKEEPING and v is not None and old.get(k) != v}


def _text(value: object) -> str:
    return "(none)" if value is None else str(value)


def _read_csv(csv_path: Path) -> list[tuple[int, dict[str, str]]]:
    text = read_text(csv_path, "score file", StoreError)  # names a bad byte's line
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        columns = [c.strip() for c in reader.fieldnames or []]
        _check_columns(csv_path, columns)
        rows = []
        for row in reader:  # line_num: the record's last line (blank lines, quoted newlines)
            if None in row:
                raise StoreError(f"{csv_path}:{reader.line_num}: more fields than the header "
                                 f"has columns ({', '.join(columns)}); quote a value that "
                                 "holds a comma")
            rows.append((reader.line_num,
                         {k.strip(): (v or "").strip() for k, v in row.items() if k}))
        return rows
    except csv.Error as exc:
        raise StoreError(f"{csv_path}:{reader.line_num}: cannot read the CSV: {exc}") from exc


def _check_columns(csv_path: Path, columns: list[str]) -> None:
    if "path" not in columns:
        raise StoreError(f"{csv_path}:1: needs a 'path' column (and 'score' unless the files "
                         f"carry metadata_props 'score'); found: {_names(columns) or 'none'}")
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise StoreError(f"{csv_path}:1: unknown column(s) {_names(unknown)}; allowed: "
                         f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}")


def _names(columns: list[str]) -> str:
    """Column names for a one-line message (a name with a line break or other control
    character is quoted, so the message stays on one line)."""
    return ", ".join(c if c.isprintable() else repr(c) for c in columns)


@dataclass(frozen=True)
class _Prepared:
    """One CSV row, checked: its line, model file, model, record and validated row."""

    line: int
    file: Path
    model: onnx.ModelProto
    record: dict
    row: dict


def _prepare(csv_path: Path, line: int, row: dict[str, str], defaults: dict) -> _Prepared:
    """One CSV row, fully validated (StoreError naming ``csv_path:line`` otherwise)."""
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
    try:  # types, NaN/inf and the metric's range, checked before anything is written
        checked = validate_record(record)
        if checked["params"] is not None or checked["macs"] is not None:
            cost_figures(model, checked)  # a params / macs column must be the graph's count
    except StoreError as exc:
        raise StoreError(f"{where}: {exc}") from None
    return _Prepared(line, file, model, record, checked)


def _read_bytes(file: Path, where: str) -> bytes:
    try:
        input_file(file, "ONNX file", StoreError)  # a directory, a NUL byte in the name
        return file.read_bytes()
    except StoreError as exc:
        raise StoreError(f"{where}: {exc}") from None
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


def _refuse_duplicates(csv_path: Path, prepared: list[_Prepared]) -> None:
    seen: dict[tuple[str, str], _Prepared] = {}
    for item in prepared:
        key = (item.record["arch_id"], str(item.record["task"]))
        if key in seen:
            first = seen[key]
            raise StoreError(f"{csv_path}:{item.line}: {item.file} is the same model as "
                             f"{first.file} on line {first.line} (sha256 "
                             f"{item.record['arch_id']}) for task {key[1]!r}; list it once")
        seen[key] = item


__all__ = ["GRAMMAR", "Change", "ImportReport", "import_scores"]
