"""The run-directory convention: where a search leaves its study and its store.

A run directory ``runs/<name>/`` holds

* ``study.journal`` -- the Optuna journal file of the outer search study (or
  ``study.db``, an SQLite file, when the search used SQLite),
* ``bench/`` -- the ONNX-Bench store root (``bench/index.parquet`` or ``index.csv``),
* ``run.json`` (optional) -- ``{"study": ..., "storage": ...}`` and anything else the
  search wants to record (task, grammar, budget, seed). ``storage`` is needed only when
  the study lives elsewhere (PostgreSQL); ``study`` names the outer study when the
  storage holds several.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from nas.errors import LeaderboardError
from nas.paths import user_path

#: file names a run directory may hold its study storage in, in order of preference
STUDY_FILES = ("study.journal", "study.db")
STORE_DIR = "bench"
RUN_FILE = "run.json"


@dataclass(frozen=True)
class RunPaths:
    """What one run directory points at (None where it holds no such thing)."""

    root: Path
    storage: str | None
    study: str | None
    store: Path | None
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The run's label: its directory name."""
        return self.root.name


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` looks like a run directory (a study file, a store or run.json)."""
    names = (*STUDY_FILES, STORE_DIR, RUN_FILE)
    return path.is_dir() and any((path / name).exists() for name in names)


def find_latest_run(root: str | Path = "runs") -> Path:
    """The most recently modified run directory under ``root``.

    A run's time is the newest modification time of the directory itself, its study
    file, its ``run.json`` and its store index (a journal grows in place, which does not
    touch the directory's own time).

    Raises:
        LeaderboardError: when ``root`` does not exist or holds no run directory.
    """
    root = Path(root)
    if not root.is_dir():
        raise LeaderboardError(
            f"no runs directory {str(root)!r}: run `nas search` first, or point at results "
            "with --run DIR, --storage URL or --store DIR"
        )
    runs = [p for p in root.iterdir() if is_run_dir(p)]
    if not runs:
        raise LeaderboardError(
            f"no run directories under {str(root)!r} (a run holds study.journal, study.db, "
            "bench/ or run.json): run `nas search` first, or pass --run, --storage or --store"
        )
    return max(runs, key=lambda p: (_run_mtime(p), p.name))


def find_study_run(study: str | None, root: str | Path = "runs") -> Path:
    """The run directory of ``study``: ``root/<study>``, else the newest run whose
    ``run.json`` names ``study``; with no study, the newest run (:func:`find_latest_run`).

    Raises:
        LeaderboardError: no run of that study (the message lists the runs there), or
            no runs at all.
    """
    root = Path(root)
    if study is None:
        return find_latest_run(root)
    if (root / study).is_dir():
        return root / study
    runs = [p for p in root.iterdir() if is_run_dir(p)] if root.is_dir() else []
    named = [p for p in runs if _read_meta_quietly(p).get("study") == study]
    if named:
        return max(named, key=lambda p: (_run_mtime(p), p.name))
    there = ", ".join(sorted(p.name for p in runs)[:10]) or "none"
    raise LeaderboardError(
        f"no run of study {study!r} under {str(root)!r} (runs there: {there}); check "
        "--study, or pass --run DIR, or --storage URL with --study")


def _read_meta_quietly(run: Path) -> dict:
    try:
        meta = json.loads((run / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _run_mtime(run: Path) -> float:
    candidates = [run, run / RUN_FILE, run / STORE_DIR, *(run / f for f in STUDY_FILES)]
    candidates += [run / STORE_DIR / "index.parquet", run / STORE_DIR / "index.csv"]
    return max(p.stat().st_mtime for p in candidates if p.exists())


def resolve_run(path: str | Path) -> RunPaths:
    """Read what a run directory holds.

    Raises:
        LeaderboardError: when the directory is missing or holds neither a study nor a store.
    """
    root = user_path(path, "run directory", LeaderboardError)
    if root.is_file():
        raise LeaderboardError(f"run directory {str(root)!r} is a file, expected a directory")
    if not root.is_dir():
        raise LeaderboardError(f"run directory {str(root)!r} does not exist: check the path "
                               "(runs live under runs/<name>/)")
    meta = _read_meta(root)
    storage = meta.get("storage")
    if storage is not None and "://" not in storage and not Path(storage).is_absolute():
        storage = str(root / storage)  # a file named relative to the run directory
    if storage is None:
        storage = next((str(root / f) for f in STUDY_FILES if (root / f).is_file()), None)
    store = root / STORE_DIR if (root / STORE_DIR).is_dir() else None
    if storage is None and store is None:
        raise LeaderboardError(
            f"run directory {str(root)!r} holds no study ({' or '.join(STUDY_FILES)}), no "
            f"store ({STORE_DIR}/) and no {RUN_FILE} naming a storage: is it a run of `nas search`?"
        )
    return RunPaths(root=root, storage=storage, study=meta.get("study"), store=store, meta=meta)


def _read_meta(root: Path) -> dict:
    path = root / RUN_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LeaderboardError(f"{path} is not valid JSON ({exc}): fix or delete it") from exc
    if not isinstance(meta, dict):
        raise LeaderboardError(f"{path} must hold a JSON object, not {type(meta).__name__}")
    return meta
