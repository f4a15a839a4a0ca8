"""Join stores written by several machines into one (`nas bench merge`).

A record's key is its path, ``<grammar>/<task>/<arch_id>``. When several stores (the
destination included) hold the same key, the winner is chosen the same way whatever the
order of the stores: the earliest ``created_at`` (the first evaluation of that
architecture), then the smaller sha256 of the file bytes. Byte-identical copies are not
conflicts. Every duplicate is reported; losing files are left where they are.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.store.schema import row_from_metadata
from nas.errors import NasError, StoreError
from nas.onnx_file import read_metadata


@dataclass(frozen=True)
class Duplicate:
    """One key found in several stores: which store's record was kept, which were not."""

    key: str
    kept: str
    dropped: tuple[str, ...]
    identical: bool


@dataclass(frozen=True)
class MergeReport:
    """What :func:`merge_stores` did: records copied in (new keys), records that replaced
    the destination's, duplicates (with their resolution) and unreadable source files."""

    added: int
    replaced: int
    duplicates: tuple[Duplicate, ...]
    skipped_corrupt: tuple[str, ...]

    def summary(self) -> str:
        """One line for the CLI."""
        conflicts = sum(not d.identical for d in self.duplicates)
        return (f"added {self.added}, replaced {self.replaced}, duplicates {len(self.duplicates)} "
                f"({conflicts} differing), unreadable {len(self.skipped_corrupt)}")


def merge_stores(dest, other_roots: Sequence[str | os.PathLike]) -> MergeReport:
    """Copy every record of the stores at ``other_roots`` into ``dest`` (an OnnxBenchStore).

    Raises StoreError if a source is missing, is not a store, or is ``dest`` itself.
    """
    sources = [type(dest)(r) for r in other_roots]  # stores of the same class as dest
    for src in sources:
        if _same_dir(src.root, dest.root):
            raise StoreError(f"cannot merge store {src.root} into itself")
    candidates: dict[str, list[tuple[object, dict]]] = {}
    for store in [dest, *sources]:
        for row in store.state().rows:
            candidates.setdefault(row["onnx_path"], []).append((store, row))
    added = replaced = 0
    duplicates: list[Duplicate] = []
    corrupt: list[str] = []
    for key in sorted(candidates):
        entries = candidates[key]
        winner, dup = _resolve(key, entries)
        if dup is not None:
            duplicates.append(dup)
        if winner[0] is dest:
            continue
        if _copy(dest, *winner, corrupt):
            replaced += entries[0][0] is dest
            added += entries[0][0] is not dest
    dest.refresh_index()
    return MergeReport(added, replaced, tuple(duplicates), tuple(corrupt))


def _resolve(key: str, entries: list[tuple[object, dict]]):
    """(winning (store, row), Duplicate or None) for one key."""
    if len(entries) == 1:
        return entries[0], None
    digests = [_digest(store.root / row["onnx_path"]) for store, row in entries]
    ranked = sorted(range(len(entries)),
                    key=lambda i: (entries[i][1].get("created_at") or "", digests[i]))
    win = ranked[0]
    dup = Duplicate(
        key=key,
        kept=str(entries[win][0].root),
        dropped=tuple(str(entries[i][0].root) for i in ranked[1:]),
        identical=len(set(digests)) == 1,
    )
    return entries[win], dup


def _copy(dest, store, row: dict, corrupt: list[str]) -> bool:
    """Copy one record's file into ``dest`` (atomically) and journal its row."""
    source = store.root / row["onnx_path"]
    try:
        data = source.read_bytes()
        checked = row_from_metadata(read_metadata(data), row["onnx_path"])
    except (OSError, NasError):
        corrupt.append(str(source))
        return False
    dest._write(checked, data)  # file atomically, then the journal line
    return True


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "~unreadable"  # sorts after every hex digest: never preferred


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
