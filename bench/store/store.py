"""`OnnxBenchStore`: a directory of ONNX files with their scores, readable by ONNX-Bench tools.

Layout (docs/SCHEMA.md)::

    <root>/STORE.json                      marks the directory as a store (format, version)
    <root>/<grammar>/<task>/<arch_id>.onnx one self-describing file per record
    <root>/index.parquet                   the index table (a rebuildable snapshot)
    <root>/index.d/<writer>.jsonl          per-writer append-only journals (see index.py)
    <root>/.lock                           taken while the snapshot is rewritten

Usage::

    store = OnnxBenchStore("runs/bench", create=True)
    store.add(export_onnx(model, (1, 8, 8)).model, {"arch_id": ..., "arch": ..., ...})
    for model, record in store: ...
    df = store.to_dataframe()
"""

from __future__ import annotations

import difflib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx

from bench.store import index as ix
from bench.store.foreign import import_scores
from bench.store.merge import merge_stores
from bench.store.schema import (
    COLUMNS,
    cost_figures,
    file_metadata,
    relative_path,
    row_to_record,
    utc_now,
    validate_record,
)
from nas import __version__
from nas.errors import StoreError
from nas.onnx_cost import measure_latency
from nas.onnx_file import read_metadata, set_metadata, write_atomic
from nas.paths import output_dir

MARKER = "STORE.json"
FORMAT = {"format": "onnx-bench", "version": 1}


@dataclass(frozen=True)
class RebuildReport:
    """Result of :meth:`OnnxBenchStore.rebuild_index`: rows indexed, unreadable files,
    temp files of killed writers that were removed."""

    records: int
    corrupt: tuple[str, ...]
    removed_temp_files: int


class OnnxBenchStore:
    """An ONNX-Bench store rooted at ``root``.

    ``create=True`` makes the directory (and its ``STORE.json``) if needed; otherwise a
    missing or foreign directory raises StoreError saying how to create a store.
    ``durable=False`` skips the fsyncs: writes stay atomic for readers and against killed
    writers, but the last records may be lost on a power cut (for benchmarks, scratch
    stores, or filesystems where fsync is very slow). Any number of processes (on any
    number of machines sharing the filesystem) may write at once; see
    :mod:`bench.store.index` for why nothing is lost.
    """

    def __init__(self, root: str | os.PathLike, create: bool = False,
                 durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable
        self.index_interval_s = 10.0
        _open_root(self.root, create)
        self._journal = ix.Journal(self.root)
        self._state: ix.IndexState | None = None

    def __repr__(self) -> str:
        return f"OnnxBenchStore({str(self.root)!r})"

    # --- writing -------------------------------------------------------------------

    def add(
        self,
        model: onnx.ModelProto,
        record: Mapping[str, object],
        *,
        refresh_index: bool | None = None,
        latency: bool = False,
    ) -> dict[str, object]:
        """Write one record: ``<grammar>/<task>/<arch_id>.onnx`` with metadata, then its index row.

        ``record`` needs :data:`~bench.store.schema.REQUIRED` fields; other columns are
        optional. Filled in when absent: ``created_at`` (now, UTC), ``platform_version``,
        ``source`` (``nas``), ``exporter`` / ``opset`` (from the model), ``params`` and
        ``macs`` (counted from the graph; a caller that gives them gives those counts,
        docs/export_store.md "Cost figures"), ``latency_ms`` (measured only if ``latency``),
        ``higher_is_better`` (from the metric name). ``onnx_path`` is always set by the
        store. The same (grammar, task, arch_id) written again replaces the earlier record.

        The record is visible to every reader of the store (``get``, iteration, the CLI)
        as soon as ``add`` returns. ``index.parquet`` (for readers that open the Parquet
        file directly) is refreshed when ``refresh_index`` is True, never when False,
        and by default when it is older than :attr:`index_interval_s` (10 s), since each
        refresh costs time proportional to the store's size.

        Returns the stored record. Raises StoreError on a bad record or an invalid model.
        """
        row = self._complete(validate_record(record), model, latency)
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        set_metadata(copy, file_metadata(row))
        self._write(row, copy.SerializeToString())
        if refresh_index or (refresh_index is None and self._index_is_old()):
            self.refresh_index()
        return row_to_record(row)

    def _index_is_old(self) -> bool:
        try:
            age = time.time() - (self.root / ix.SNAPSHOT).stat().st_mtime
        except OSError:
            return True
        return age > self.index_interval_s

    def _complete(self, row: dict, model: onnx.ModelProto, latency: bool) -> dict:
        if not isinstance(model, onnx.ModelProto):
            raise StoreError(f"add() takes an onnx.ModelProto, got {type(model).__name__}")
        try:
            onnx.checker.check_model(model)
        except Exception as exc:
            first = (str(exc).strip() or type(exc).__name__).splitlines()[0][:300]
            raise StoreError(f"model for {row['arch_id']} fails onnx.checker: {first}") from exc
        meta = read_metadata(model)
        defaults = {
            "created_at": utc_now(),
            "platform_version": _platform_version(),
            "source": "nas",
            "exporter": meta.get("exporter"),
            "opset": _opset_of(model),
        }
        for key, value in defaults.items():
            if row[key] is None:
                row[key] = value
        if row["params"] is None or row["macs"] is None:
            counted = cost_figures(model)
            row.update({k: v if row[k] is None else row[k] for k, v in counted.items()})
        if row["latency_ms"] is None and latency:
            row["latency_ms"] = measure_latency(model)
        row["onnx_path"] = relative_path(row)
        return row

    def _write(self, row: dict, data: bytes) -> None:
        """File first (atomic), journal line second: a crash between them leaves a file
        without a row, which every read picks up from the file's own metadata."""
        path = self.root / row["onnx_path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data, self.durable)
        self._journal.append(row)
        self._state = None

    def refresh_index(self) -> bool:
        """Fold new journal lines and unindexed files into ``index.parquet``.

        Returns True if the snapshot was rewritten (False: already current, or the store
        is read-only). Safe to call from many processes at once.
        """
        try:
            with ix.snapshot_lock(self.root):
                state = ix.reconcile(self.root)
                if state.changed:
                    ix.write_snapshot(self.root, state.rows, state.offsets, self.durable)
        except PermissionError:
            return False
        self._state = state
        return state.changed

    def rebuild_index(self) -> RebuildReport:
        """Rebuild ``index.parquet`` from the ONNX files alone (journals and the old
        snapshot are not read); removes temp files of writers killed over an hour ago."""
        with ix.snapshot_lock(self.root):
            state = ix.rows_from_files(self.root)
            ix.write_snapshot(self.root, state.rows, state.offsets, self.durable)
        removed = ix.remove_stale_temps(self.root, state.temp_files)
        self._state = None
        return RebuildReport(len(state.rows), tuple(state.corrupt), removed)

    def import_scores(
        self,
        scores,
        *,
        task: str | None = None,
        metric: str | None = None,
        higher_is_better: bool | None = None,
    ):
        """Import foreign ONNX files listed in a CSV (its path, or the
        :class:`~bench.store.foreign.ScoreFile` that ``read_score_file`` checked before
        the store was opened); returns an :class:`~bench.store.foreign.ImportReport`
        (new, updated, unchanged records); see :mod:`bench.store.foreign`."""
        return import_scores(self, scores, task=task, metric=metric,
                             higher_is_better=higher_is_better)

    def merge(self, other_roots: Sequence[str | os.PathLike]):
        """Join other stores into this one; see :func:`bench.store.merge.merge_stores`."""
        return merge_stores(self, other_roots)

    # --- reading -------------------------------------------------------------------

    def state(self, fresh: bool = True) -> ix.IndexState:
        """The reconciled index (re-read from disk unless ``fresh=False`` and cached)."""
        if fresh or self._state is None:
            self._state = ix.reconcile(self.root)
        return self._state

    def __len__(self) -> int:
        return len(self.state().rows)

    def records(self) -> Iterator[tuple[Path, dict[str, object]]]:
        """(file path, record) for every record, oldest first; files are not opened."""
        for row in self.state().rows:
            yield self.root / row["onnx_path"], row_to_record(row)

    def __iter__(self) -> Iterator[tuple[onnx.ModelProto, dict[str, object]]]:
        """(loaded ModelProto, record) for every record, oldest first."""
        for path, record in self.records():
            yield _load(path), record

    def get(self, arch_id: str, task: str | None = None, grammar: str | None = None) -> dict:
        """The record of ``arch_id`` (a unique prefix of >= 4 characters also works).

        ``task`` / ``grammar`` pick one when the architecture is stored for several.
        Raises StoreError naming close ids when it is unknown, or the choices when ambiguous.
        """
        return row_to_record(self._find(arch_id, task, grammar))

    def path(self, arch_id: str, task: str | None = None, grammar: str | None = None) -> Path:
        """Absolute path of a record's ONNX file."""
        return self.root / self._find(arch_id, task, grammar)["onnx_path"]

    def load(self, arch_id: str, task: str | None = None, grammar: str | None = None):
        """The stored ``onnx.ModelProto`` of a record; StoreError if the file is damaged."""
        return _load(self.path(arch_id, task, grammar))

    def _find(self, arch_id: str, task: str | None, grammar: str | None) -> dict:
        matches = self._matches(self.state(fresh=False).rows, arch_id, task, grammar)
        if not matches:  # the cache may predate the record
            matches = self._matches(self.state().rows, arch_id, task, grammar)
        if not matches:
            raise StoreError(self._unknown_message(arch_id, task, grammar))
        if len(matches) > 1:
            options = ", ".join(f"{r['arch_id']} ({r['grammar']}/{r['task']})" for r in matches)
            raise StoreError(f"{arch_id!r} matches several records: {options}; "
                             "pass a longer id, task= or grammar= (--task/--grammar)")
        return matches[0]

    @staticmethod
    def _matches(rows, arch_id, task, grammar) -> list[dict]:
        key = arch_id.strip().lower()
        exact = [r for r in rows if r["arch_id"] == key]
        if not exact and len(key) >= 4:
            exact = [r for r in rows if r["arch_id"].startswith(key)]
        return [r for r in exact
                if task in (None, r["task"]) and grammar in (None, r["grammar"])]

    def _unknown_message(self, arch_id, task, grammar) -> str:
        ids = sorted({r["arch_id"] for r in self.state(fresh=False).rows})
        where = "".join(f" {k}={v!r}" for k, v in (("task", task), ("grammar", grammar)) if v)
        close = difflib.get_close_matches(arch_id, ids, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else (
            "; the store is empty" if not ids else "; list them with `nas bench ls`")
        return f"no record {arch_id!r}{where} in store {self.root}{hint}"

    def to_dataframe(self):
        """All records as a pandas DataFrame with exactly the index columns, oldest first
        (``hparams`` as JSON text, integer columns as nullable ``Int64``)."""
        # pandas: only this view needs it; the store itself writes its index with pyarrow
        import pandas as pd

        frame = pd.DataFrame(self.state().rows, columns=list(COLUMNS))
        return frame.astype({c: _PANDAS_TYPES[t] for c, t in COLUMNS.items()})

    def stats(self) -> dict[str, object]:
        """Counts and health of the store: records per grammar/task/source, score ranges
        per task, bytes on disk, unreadable files, rows without files, temp files."""
        state = self.state()
        rows = state.rows
        return {
            "root": str(self.root),
            "records": len(rows),
            "grammars": dict(Counter(r["grammar"] for r in rows).most_common()),
            "tasks": _task_stats(rows),
            "sources": dict(Counter(r["source"] for r in rows).most_common()),
            "exporters": dict(Counter(r["exporter"] or "unknown" for r in rows).most_common()),
            "bytes": sum(_size(self.root / r["onnx_path"]) for r in rows),
            "index": _index_status(state),
            "index_pending": state.pending,
            "writers": len(state.offsets),
            "corrupt_files": state.corrupt,
            "rows_without_file": state.missing,
            "temp_files": len(state.temp_files),
        }


_PANDAS_TYPES = {str: "object", bool: "boolean", float: "float64", int: "Int64", dict: "object"}


def _open_root(root: Path, create: bool) -> None:
    """Check that ``root`` is a store, or make it one when ``create``."""
    output_dir(root, "store", StoreError)
    marker = root / MARKER
    if marker.exists() or (root / ix.SNAPSHOT).exists():
        return
    if not create:
        if not root.exists():
            raise StoreError(
                f"no ONNX-Bench store at {root}: check the path (a store is made by `nas "
                "search`, `nas bench import scores.csv --store DIR` or, in Python, "
                "OnnxBenchStore(path, create=True))"
            )
        raise StoreError(
            f"{root} exists but is not an ONNX-Bench store (no {MARKER}): check the path, or "
            "make it one with `nas bench import`/`merge` (in Python: create=True)"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_atomic(marker, json.dumps({**FORMAT, "created_at": utc_now()}).encode())
    except OSError as exc:
        raise StoreError(f"cannot create an ONNX-Bench store at {root}: {exc.strerror}") from exc


def _load(path: Path) -> onnx.ModelProto:
    try:
        return onnx.load_model(str(path))
    except FileNotFoundError as exc:
        raise StoreError(f"{path} is in the index but missing; run `nas bench stats`") from exc
    except Exception as exc:
        raise StoreError(f"{path} is not a readable ONNX model ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); is it truncated?") from exc


def _task_stats(rows: list[dict]) -> dict[str, dict]:
    tasks: dict[str, dict] = {}
    for r in rows:
        t = tasks.setdefault(r["task"], {"records": 0, "metric": r["metric"],
                                         "best": None, "worst": None})
        t["records"] += 1
        score = r["val_score"]
        if score is None or score != score:
            continue
        better = max if r["higher_is_better"] else min
        worse = min if r["higher_is_better"] else max
        t["best"] = score if t["best"] is None else better(t["best"], score)
        t["worst"] = score if t["worst"] is None else worse(t["worst"], score)
    return tasks


def _index_status(state: ix.IndexState) -> str:
    """How ``index.parquet`` compares with the files: current, behind (records still in
    the writers' journals: normal while a writer runs), missing or corrupt."""
    if state.snapshot != "ok":
        return (f"{state.snapshot} (every reader here works from the files and journals; "
                "the next write or `nas bench rebuild` writes it)")
    if not state.changed:
        return "current"
    behind = f"{state.pending} record(s) behind" if state.pending else "behind"
    return (f"{behind} (normal while a search writes: every reader here includes them; "
            "completed when the run ends, or now by `nas bench rebuild`)")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _opset_of(model: onnx.ModelProto) -> int | None:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None


def _platform_version() -> str:
    return __version__


__all__ = ["MARKER", "OnnxBenchStore", "RebuildReport"]
