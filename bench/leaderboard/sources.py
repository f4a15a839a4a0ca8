"""Reading the two sources of a leaderboard: the outer Optuna study and the store index.

Both come back as plain DataFrames with the column names of docs/SCHEMA.md, so that the
rest of the package never touches Optuna or the store layout.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.storage import DISCARDED, REQUEUE, with_driver
from bench.store import OnnxBenchStore
from bench.store.schema import REQUIRED
from nas.errors import LeaderboardError, StorageError, StoreError

#: trial user_attrs the leaderboard reads (docs/SCHEMA.md, "Outer search study")
TRIAL_ATTRS = (
    "arch", "arch_id", "grammar", "grammar_hash", "task", "metric", "val_score", "val_loss",
    "test_score", "params", "macs", "hparams", "train_seconds", "epochs", "strategy",
    "predicted_score", "onnx_path", "seed", "fail_reason", "origin",
)
#: index files of an ONNX-Bench store root, in order of preference
INDEX_FILES = ("index.parquet", "index.csv")
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
#: trial system_attrs with which ``nas search`` marks failed trials that were not
#: evaluations: re-queued (worker killed or interrupted; the architecture runs again)
#: and discarded (lost the race for the last budget slot). They spent no budget.
NOT_EVALUATIONS = (REQUEUE, DISCARDED)


@dataclass
class StudyData:
    """The finished trials of one outer study, as a frame, plus the study's attributes.

    ``trials`` has one row per finished evaluation (COMPLETE, FAIL or PRUNED; trials the
    search re-queued or discarded are left out, see :data:`NOT_EVALUATIONS`) with columns
    ``trial_number, state, value, started_at, completed_at`` and the schema's user_attrs.
    """

    name: str
    storage: str
    maximize: bool
    trials: pd.DataFrame
    user_attrs: dict = field(default_factory=dict)
    system_attrs: dict = field(default_factory=dict)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (reports must not leak it)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def open_storage(storage):
    """An Optuna storage from a URL, a journal/SQLite file path, or a storage object.

    A path ending in .db/.sqlite/.sqlite3 opens as SQLite, any other path as a journal
    file. A missing file is an error (opening it would create an empty study storage).
    ``postgresql://`` URLs get the installed driver, as ``nas search`` gives them
    (:func:`bench.storage.with_driver`).

    Raises:
        LeaderboardError: when the file does not exist.
        StorageError: when Optuna cannot open the URL.
    """
    # optuna: only a leaderboard that reads a study loads it
    import optuna

    if not isinstance(storage, str | Path):
        return storage
    text = str(storage)
    if "://" not in text:
        path = Path(text)
        if not path.is_file():
            raise LeaderboardError(
                f"study storage {text!r} does not exist: pass the run's study.journal "
                "(or an Optuna storage URL) with --storage, or a run directory with --run"
            )
        if path.suffix in _SQLITE_SUFFIXES:
            text = f"sqlite:///{path.resolve()}"
        else:
            backend = optuna.storages.journal.JournalFileBackend(str(path))
            return optuna.storages.JournalStorage(backend)
    elif text.startswith("sqlite:///") and not Path(text[len("sqlite:///"):]).is_file():
        raise LeaderboardError(f"SQLite file of {text!r} does not exist: check the path")
    try:
        return optuna.storages.get_storage(with_driver(text))
    except Exception as exc:  # driver and connection errors come in many types
        raise StorageError(
            f"cannot open Optuna storage {redact(text)!r}: {exc}. Check the URL, that the "
            "database is reachable and that its driver is installed"
        ) from exc


def load_study(study=None, storage=None) -> StudyData:
    """Load the outer study ``study`` (a name, or an ``optuna.Study``) from ``storage``.

    With no name, the storage's only study is used; when it holds several, the one whose
    trials carry an ``arch_id`` user_attr (the outer search, not inner tuning studies).

    Raises:
        LeaderboardError: no storage, an unknown or ambiguous study name, a
            multi-objective study.
    """
    # optuna: only a leaderboard that reads a study loads it
    import optuna

    storage, study = unwrap_study(study, storage)
    if storage is None:
        raise LeaderboardError("no study storage given: pass --storage URL or --run DIR")
    store = open_storage(storage)
    name = _pick_study(store, study, _label(storage))
    study_id = store.get_study_id_from_name(name)
    directions = store.get_study_directions(study_id)
    if len(directions) != 1:
        raise LeaderboardError(f"study {name!r} has {len(directions)} objectives; a "
                               "leaderboard ranks by one validation score")
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL,
                optuna.trial.TrialState.PRUNED)
    trials = [t for t in store.get_all_trials(study_id, deepcopy=False, states=finished)
              if not is_protocol_only(t)]
    return StudyData(
        name=name,
        storage=_label(storage),
        maximize=directions[0] == optuna.study.StudyDirection.MAXIMIZE,
        trials=trials_frame(trials),
        user_attrs=dict(store.get_study_user_attrs(study_id)),
        system_attrs=dict(store.get_study_system_attrs(study_id)),
    )


def is_protocol_only(trial) -> bool:
    """Whether a finished trial is a search-protocol leftover rather than an evaluation:
    failed and marked re-queued or discarded (its failure is not the architecture's)."""
    return any(trial.system_attrs.get(key) for key in NOT_EVALUATIONS)


def unwrap_study(study, storage):
    """(storage, name) for an ``optuna.Study`` object; other arguments pass through."""
    # optuna: only a leaderboard that reads a study loads it
    import optuna

    if isinstance(study, optuna.Study):
        # Optuna has no public accessor for a study's storage; _storage is long-standing
        return study._storage, study.study_name
    return storage, study


def _label(storage) -> str:
    return redact(str(storage)) if isinstance(storage, str | Path) else type(storage).__name__


def _pick_study(storage, name: str | None, label: str) -> str:
    names = [s.study_name for s in storage.get_all_studies()]
    if name is not None:
        if name not in names:
            raise LeaderboardError(
                f"no study {name!r} in {label}; studies there: {', '.join(names) or '(none)'}"
            )
        return name
    if len(names) == 1:
        return names[0]
    if not names:
        raise LeaderboardError(f"storage {label} holds no study yet: run `nas search` first")
    outer = [n for n in names if _is_outer(storage, storage.get_study_id_from_name(n))]
    if len(outer) == 1:
        return outer[0]
    raise LeaderboardError(
        f"storage {label} holds several studies ({', '.join(names)}): pick one with --study"
    )


def _is_outer(storage, study_id: int) -> bool:
    trials = storage.get_all_trials(study_id, deepcopy=False)
    return any("arch_id" in t.user_attrs for t in trials[:5])


def trials_frame(trials) -> pd.DataFrame:
    """One row per Optuna ``FrozenTrial``: number, state, value, times, schema user_attrs."""
    rows = []
    for t in trials:
        row = {key: t.user_attrs.get(key) for key in TRIAL_ATTRS}
        row.update(
            trial_number=t.number,
            state=t.state.name,
            value=t.value if t.values else None,
            started_at=t.datetime_start,
            completed_at=t.datetime_complete,
            hparams=hparams_text(row["hparams"]),
        )
        rows.append(row)
    columns = ["trial_number", "state", "value", "started_at", "completed_at", *TRIAL_ATTRS]
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("started_at", "completed_at"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def hparams_text(value) -> str | None:
    """Hyperparameters as JSON text: a dict is encoded with sorted keys; text (the
    store's column, already canonical JSON there) is kept as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def load_store_index(store) -> tuple[pd.DataFrame, Path | None]:
    """The store index as a frame, and the store root (None for an in-memory frame).

    ``store`` is a DataFrame, an index file (.parquet or .csv, read as it is), or a store
    root. A root is read through ``OnnxBenchStore(root).to_dataframe()`` when the store
    package is installed (its view folds in the writers' journals and the ONNX files, so
    it is never staler than ``index.parquet``); otherwise from the root's
    ``index.parquet`` or ``index.csv`` (also when the package does not take the folder
    for a store).

    Raises:
        LeaderboardError: when the path does not exist or holds no readable index.
    """
    if isinstance(store, pd.DataFrame):
        return store.copy(), None
    path = Path(store)
    if not path.exists():
        raise LeaderboardError(
            f"store {str(path)!r} does not exist: pass the store root (the folder holding "
            "the ONNX files and index.parquet) with --store"
        )
    if path.is_file():
        if path.suffix not in {Path(name).suffix for name in INDEX_FILES}:
            raise LeaderboardError(f"store {str(path)!r} is a file, expected a store "
                                   f"directory or its {' or '.join(INDEX_FILES)}")
        return _read_index(path), path.parent
    try:
        return OnnxBenchStore(path).to_dataframe(), path
    except StoreError as exc:  # not a store: a bare index file may still do
        refusal = exc
    for name in INDEX_FILES:
        if (path / name).is_file():
            return _read_index(path / name), path
    raise LeaderboardError(f"cannot read store {str(path)!r}: {refusal}") from refusal


def _read_index(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pyarrow and the csv parser raise many types
        raise LeaderboardError(f"cannot read store index {str(path)!r}: {exc}") from exc
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise LeaderboardError(f"store index {str(path)!r} lacks column(s) "
                               f"{', '.join(missing)}: is it a store's index.parquet or "
                               "index.csv? (`nas bench rebuild` rewrites one)")
    return frame
