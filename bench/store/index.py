"""The store's index: per-writer journals, a Parquet snapshot, and the files as truth.

Why this shape (many processes, many machines, kill -9 at any moment):

* The ONNX files are the truth. Each carries its whole record in ``metadata_props`` and is
  written by temp file + fsync + ``os.replace``, so a file is either absent or complete.
* Each writer process appends one JSON line per record to its *own* journal,
  ``index.d/<host>-<pid>-<token>.jsonl``, after its file is in place. No two processes
  share a journal, so writers need no lock and never interleave bytes (this also holds
  on shared filesystems where ``fcntl`` locks are unreliable).
* ``index.parquet`` is a snapshot: the reconciled rows plus, in its schema metadata, how
  many bytes of each journal it has folded in. Snapshots are written atomically, under
  an ``flock`` when the filesystem has one; a snapshot is self-consistent on its own, so
  even two unlocked writers of it can only make it staler, never wrong.
* Reading = snapshot + journal lines past its offsets + a listing of the files. A file
  with no row (its writer died between the file and the journal line) is read from its
  own metadata; a row whose file is gone is dropped; a key with several different rows
  is settled by the file's metadata. A torn last journal line is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.store.schema import COLUMNS, RESERVED_DIRS, row_from_metadata
from nas.errors import NasError
from nas.onnx_file import read_metadata, write_atomic

JOURNAL_DIR = "index.d"
SNAPSHOT = "index.parquet"
LOCK_FILE = ".lock"
_OFFSETS_KEY = b"onnx_bench.journal_offsets"
_ARROW_TYPES = {str: pa.string(), bool: pa.bool_(), float: pa.float64(), int: pa.int64(),
                dict: pa.string()}
ARROW_SCHEMA = pa.schema([(c, _ARROW_TYPES[t]) for c, t in COLUMNS.items()])


@dataclass
class IndexState:
    """The reconciled view of a store at one moment.

    ``rows`` are sorted by (created_at, onnx_path); ``offsets`` are the journal bytes the
    rows include; ``corrupt`` lists files that cannot be read; ``missing`` lists index
    rows whose file is gone; ``changed`` says the snapshot is behind this view;
    ``pending`` counts the records this view holds that ``index.parquet`` lacks (journal
    lines past its offsets, files without any row): normal while writers run.
    """

    rows: list[dict]
    offsets: dict[str, int]
    corrupt: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    snapshot: str = "ok"  # ok | missing | corrupt
    changed: bool = False
    pending: int = 0


class Journal:
    """This process's append-only journal (created on first append, renamed after a fork)."""

    def __init__(self, root: Path) -> None:
        self.directory = root / JOURNAL_DIR
        self._pid = -1
        self._name = ""

    def append(self, row: dict) -> None:
        """Append ``row`` as one JSON line with a single ``write`` (O_APPEND)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())
            self._name = f"{host}-{self._pid}-{secrets.token_hex(4)}.jsonl"
        self.directory.mkdir(exist_ok=True)
        data = (json.dumps(row, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.directory / self._name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)


def reconcile(root: Path) -> IndexState:
    """Snapshot + journal tails + file listing -> the rows of every readable file."""
    snap_rows, offsets, snap_status = read_snapshot(root)
    new_rows, offsets = read_journals(root, offsets)
    files, temps = scan_files(root)
    state = IndexState(rows=[], offsets=offsets, temp_files=temps, snapshot=snap_status)
    groups: dict[str, list[dict]] = {}
    for row in [*snap_rows, *new_rows]:
        groups.setdefault(row["onnx_path"], []).append(row)
    for rel, rows in groups.items():
        if rel not in files:
            state.missing.append(rel)
            continue
        if len(rows) == 1 or len({json.dumps(r, sort_keys=True) for r in rows}) == 1:
            state.rows.append(rows[-1])
        else:  # the same key written twice: the file says which write won
            _add_from_file(state, root, rel)
    unindexed = sorted(set(files) - set(groups))
    for rel in unindexed:
        _add_from_file(state, root, rel)
    state.rows.sort(key=lambda r: (r.get("created_at") or "", r["onnx_path"]))
    state.changed = bool(new_rows or state.missing or state.corrupt or snap_status != "ok"
                         or len(state.rows) != len(snap_rows))
    in_snapshot = {r["onnx_path"] for r in snap_rows}
    state.pending = len({r["onnx_path"] for r in new_rows} - in_snapshot) + len(unindexed)
    return state


def _add_from_file(state: IndexState, root: Path, rel: str) -> None:
    try:
        state.rows.append(row_from_metadata(read_metadata(root / rel), rel))
    except NasError:
        state.corrupt.append(rel)


def rows_from_files(root: Path) -> IndexState:
    """Every row read from the files' own metadata, ignoring snapshot and journals."""
    _, offsets = read_journals(root, {})  # journal bytes already covered by the files
    files, temps = scan_files(root)
    state = IndexState(rows=[], offsets=offsets, temp_files=temps, changed=True)
    for rel in sorted(files):
        _add_from_file(state, root, rel)
    state.rows.sort(key=lambda r: (r.get("created_at") or "", r["onnx_path"]))
    return state


def read_snapshot(root: Path) -> tuple[list[dict], dict[str, int], str]:
    """(rows, journal offsets, status) of ``index.parquet``; a bad snapshot reads as empty."""
    path = root / SNAPSHOT
    if not path.exists():
        return [], {}, "missing"
    try:
        table = pq.read_table(path)
        meta = table.schema.metadata or {}
        offsets = json.loads(meta.get(_OFFSETS_KEY, b"{}"))
        return table.to_pylist(), {str(k): int(v) for k, v in offsets.items()}, "ok"
    except Exception:  # any damage: rebuild the view from journals and files
        return [], {}, "corrupt"


def write_snapshot(root: Path, rows: list[dict], offsets: dict[str, int],
                   durable: bool = True) -> None:
    """Atomically replace ``index.parquet`` with ``rows`` and the journal offsets they cover."""
    schema = ARROW_SCHEMA.with_metadata({_OFFSETS_KEY: json.dumps(offsets).encode()})
    table = pa.Table.from_pylist(rows, schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_atomic(root / SNAPSHOT, sink.getvalue().to_pybytes(), durable)


def read_journals(root: Path, offsets: dict[str, int]) -> tuple[list[dict], dict[str, int]]:
    """Rows appended to every journal past ``offsets``; returns (rows, new offsets).

    Only complete lines count: a line torn by a crash (no newline yet) is left unread,
    and a complete line that is not valid JSON is skipped.
    """
    directory = root / JOURNAL_DIR
    rows: list[dict] = []
    new_offsets: dict[str, int] = {}
    if not directory.is_dir():
        return rows, new_offsets
    for path in sorted(directory.glob("*.jsonl")):
        start = offsets.get(path.name, 0)
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        new_offsets[path.name] = start + end
        for line in data[:end].splitlines():
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict) and row.get("onnx_path"):
                    rows.append({c: row.get(c) for c in COLUMNS})
    return rows, new_offsets


def scan_files(root: Path) -> tuple[set[str], list[str]]:
    """Relative paths of ``<grammar>/<task>/*.onnx`` files, and of left-over temp files."""
    files: set[str] = set()
    temps: list[str] = []
    for grammar in _subdirs(root):
        for task in _subdirs(grammar):
            with os.scandir(task) as entries:
                for entry in entries:
                    rel = f"{grammar.name}/{task.name}/{entry.name}"
                    if entry.name.startswith("."):
                        if entry.name.endswith(".tmp"):
                            temps.append(rel)
                    elif entry.name.endswith(".onnx") and entry.is_file():
                        files.add(rel)
    return files, temps


def _subdirs(path: Path) -> Iterator[Path]:
    with os.scandir(path) as entries:
        names = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    return (path / n for n in names if n not in RESERVED_DIRS)


def remove_stale_temps(root: Path, temps: list[str], older_than_s: float = 3600.0) -> int:
    """Delete temp files left by killed writers (older than ``older_than_s``); returns count."""
    removed = 0
    for rel in temps:
        path = root / rel
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > older_than_s:
                path.unlink()
                removed += 1
    return removed


@contextlib.contextmanager
def snapshot_lock(root: Path) -> Iterator[None]:
    """Exclusive ``flock`` on ``<root>/.lock`` where the OS/filesystem has one, else nothing."""
    try:
        import fcntl
    except ImportError:  # Windows: snapshots stay correct without it, only possibly staler
        yield
        return
    with open(root / LOCK_FILE, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except OSError:  # e.g. a network filesystem without locks
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
