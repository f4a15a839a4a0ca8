"""The outer search study: the storage operations the search protocol is built from.

:class:`SearchStudy` wraps one Optuna storage and study id. Each method is one storage
call (or a few), retried on transient failures and run as a critical section (a
SIGINT/SIGTERM waits until it has finished, see :mod:`nas.search.signals`). Trials are
driven through Optuna's storage API (create, set attributes, set state) rather than
``Study.ask``/``tell``, because workers also act on each other's trials (failing stale
ones), which ``tell`` is not meant for.

Costs that decide how a study scales (issue 16): every state change of a trial is one
storage write (:mod:`nas.search.batch`), and :meth:`SearchStudy.history` re-reads only
the trials that may have changed since this process last read the study (finished
trials never change), so a read costs what changed, not the study's size.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from bench.storage import open_storage, redact, with_retry
from nas.errors import StorageError, StudyMismatchError
from nas.options import flag_names
from nas.search.batch import create_trial, read_rdb, write_trial
from nas.search.config import SearchConfig
from nas.search.history import FinishedIndex, History, TrialRecord, from_frozen
from nas.search.signals import critical

#: how long a worker that found a new study waits for its creator to record its identity
IDENTITY_WAIT_S = 10.0


@dataclass
class SearchStudy:
    """An open outer study: ``storage`` (an Optuna storage), ``study_id``, ``name``."""

    storage: object
    study_id: int
    name: str
    maximize: bool
    label: str
    _reader: _TrialReader | None = field(default=None, repr=False, compare=False)

    # --- opening --------------------------------------------------------------------

    @classmethod
    def open(cls, spec: str, name: str, *, direction: str | None = None,
             identity: dict | None = None, create: bool = True) -> SearchStudy:
        """Open study ``name`` in storage ``spec``; create it when ``create`` (with
        ``direction``, ``maximize`` or ``minimize``).

        ``identity`` (e.g. grammar, grammar hash, task) is stored as study user_attrs on
        creation and must match on every later open: a study belongs to one search.

        Raises:
            StorageError: the storage cannot be opened, the study is missing (``create``
                False), or it belongs to another search (direction or identity differ).
        """
        storage = open_storage(spec, create=create)
        label = redact(spec)
        study_id, created = _study_id(storage, name, direction if create else None, label)
        study = cls(storage, study_id, name, True, label)
        directions = study._call(lambda: storage.get_study_directions(study_id), "read study")
        study.maximize = directions[0].name == "MAXIMIZE"
        if direction is not None and directions[0].name.lower() != direction:
            raise StorageError(f"study {name!r} in {label} maximises/minimises the other way "
                               f"({directions[0].name.lower()}): it belongs to another task; "
                               "pick another --study")
        if identity:
            study._check_identity(identity, created)
        return study

    def _check_identity(self, identity: dict, created: bool) -> None:
        """Record ``identity`` in a new study; compare it with a found study's.

        Only the worker that created the study writes it (its last key last), so that
        workers starting at once with different settings cannot both be accepted: the
        others wait for it (:data:`IDENTITY_WAIT_S`) and compare. A study that predates
        an identity key takes the value it is resumed with.
        """
        # as the storage gives it back (JSON: tuples become lists), so that equal
        # settings compare equal whoever wrote them
        identity = json.loads(json.dumps(identity))
        last = next(reversed(identity))
        attrs = {} if created else self.user_attrs()
        if not created and last not in attrs and not self._has_trials():
            attrs = self._wait_for_attr(last)
        changes = identity_changes(attrs, identity)
        if changes:
            raise StudyMismatchError(
                f"study {self.name!r} in {self.label} was created with other settings: "
                f"{'; '.join(changes)}. Its scores would not be comparable with new ones: "
                "resume with the same settings, or start a new study with --study NEW_NAME "
                "(or a new --out)")
        for key, value in identity.items():  # new study, or keys an older one lacks
            if key not in attrs:
                self.set_study_attr(key, value)

    def _has_trials(self) -> bool:
        trials = self._call(lambda: self.storage.get_all_trials(self.study_id, deepcopy=False),
                            "read the trials")
        return bool(trials)

    def _wait_for_attr(self, key: str) -> dict:
        """The study's attributes once ``key`` is among them (or after the wait)."""
        deadline = time.monotonic() + IDENTITY_WAIT_S
        attrs = self.user_attrs()
        while key not in attrs and time.monotonic() < deadline:
            time.sleep(0.1)
            attrs = self.user_attrs()
        return attrs

    # --- reading --------------------------------------------------------------------

    def _call(self, fn, what: str):
        with critical():
            return with_retry(fn, f"{what} of study {self.name!r} in {self.label}")

    def history(self) -> History:
        """Every trial of the study, as records (read incrementally, see the module
        docstring)."""
        if self._reader is None:
            self._reader = _TrialReader(self.storage, self.study_id)
        records, active = self._call(self._reader.read, "read the trials")
        index = self._reader.index
        return History(records, self.maximize, index, len(index.order), active)

    def record(self, trial_id: int) -> TrialRecord:
        """One trial, read afresh."""
        return from_frozen(self._call(lambda: self.storage.get_trial(trial_id), "read a trial"))

    def user_attrs(self) -> dict:
        return dict(self._call(lambda: self.storage.get_study_user_attrs(self.study_id),
                               "read study attributes"))

    def set_study_attr(self, key: str, value) -> None:
        self._call(lambda: self.storage.set_study_user_attr(self.study_id, key, value),
                   "write a study attribute")

    # --- writing --------------------------------------------------------------------

    def create_trial(self, user_attrs: dict | None = None,
                     system_attrs: dict | None = None) -> tuple[int, int]:
        """A new RUNNING trial with these attributes, in one write: ``(trial_id, number)``."""
        user = {k: v for k, v in (user_attrs or {}).items() if v is not None}
        return self._call(lambda: create_trial(self.storage, self.study_id, user,
                                               dict(system_attrs or {})), "create a trial")

    def set_user_attrs(self, trial_id: int, attrs: dict) -> None:
        """Write ``attrs`` (None values skipped) to a running trial's user_attrs, in one
        write (UpdateFinishedTrialError, and nothing written, if it has finished)."""
        self.update(trial_id, user_attrs=attrs)

    def set_system_attrs(self, trial_id: int, attrs: dict) -> None:
        """Write protocol attributes (``nas:*``) to a running trial, in one write."""
        self.update(trial_id, system_attrs=attrs)

    def update(self, trial_id: int, user_attrs: dict | None = None,
               system_attrs: dict | None = None, state: str | None = None,
               value: float | None = None, clear=()) -> bool:
        """One state change of a running trial as one storage write: user attributes
        (None values skipped; the keys in ``clear`` are set to None), protocol
        attributes and, with ``state`` (``COMPLETE`` with ``value``, or ``FAIL``), the
        transition that finishes it.

        All of it lands, or none: the write checks, atomically, that the trial is still
        running. Returns False when ``state`` was asked and someone else finished the
        trial first (e.g. failed it as stale); without ``state`` that case raises
        UpdateFinishedTrialError.
        """
        user = {k: v for k, v in (user_attrs or {}).items() if v is not None}
        user.update(dict.fromkeys(clear))
        target = TrialState[state] if state is not None else None
        try:
            self._call(lambda: write_trial(self.storage, trial_id, user, system_attrs,
                                           target, value),
                       f"mark a trial {state}" if state else "write trial attributes")
        except UpdateFinishedTrialError:
            if state is None:
                raise
            # a retried call whose first attempt went through finds its own state
            return self.record(trial_id).state == state
        return True

    def finish(self, trial_id: int, state: str, value: float | None = None) -> bool:
        """Move a running trial to ``state`` (``COMPLETE`` with ``value``, or ``FAIL``).

        The transition is atomic in every Optuna storage: when two workers race to
        finish one trial, one wins. Returns False when the trial was already finished
        by someone else (e.g. failed as stale), True otherwise.
        """
        return self.update(trial_id, state=state, value=value)


def identity_changes(recorded: dict, identity: dict) -> list[str]:
    """``what old -> new`` for each key of ``identity`` that ``recorded`` (a study's
    attributes) holds with another value; ``settings`` compared option by option and
    named by flag. A study written before ``settings`` existed is compared with the
    settings it recorded then (``epochs``, ``inner_trials``, ``trial_seconds``, ``seed``)."""
    changes = []
    for key, value in identity.items():
        if key == "settings":
            old = recorded.get("settings") or _legacy_settings(recorded)
            changes += _setting_changes(old, value)
        elif key in recorded and recorded[key] != value:
            changes.append(f"{_IDENTITY_LABELS.get(key, key)} {_show(recorded[key])} -> "
                           f"{_show(value)}")
    return changes


def _setting_changes(old: dict, new: dict) -> list[str]:
    flags = flag_names(SearchConfig)
    return [f"{flags.get(k, k)} {_show(old[k])} -> {_show(v)}"
            for k, v in new.items() if k in old and old[k] != v]


def _legacy_settings(attrs: dict) -> dict:
    names = {"epochs": "epochs", "inner_trials": "tune_trials",
             "trial_seconds": "trial_seconds", "seed": "seed"}
    return {new: attrs[old] for old, new in names.items() if old in attrs}


def _show(value) -> str:
    if isinstance(value, str) and value.startswith("sha256:"):
        return f"sha256 {value[7:19]}"  # enough to tell two files apart in one line
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in sorted(value.items())) + "}"
    return "none" if value is None else str(value)


#: how the one-line refusal names the identity keys
_IDENTITY_LABELS = {"grammar_hash": "grammar file (hash)", "data": "task data"}


def _study_id(storage, name: str, direction: str | None, label: str) -> tuple[int, bool]:
    """(id of study ``name``, whether this call created it); created (race-safely) when
    a direction is given."""
    def find() -> int | None:
        try:
            return storage.get_study_id_from_name(name)
        except KeyError:
            return None

    found = with_retry(find, f"look up study {name!r} in {label}")
    if found is not None:
        return found, False
    if direction is None:
        studies = with_retry(storage.get_all_studies, f"list the studies in {label}")
        names = ", ".join(s.study_name for s in studies) or "(none)"
        raise StorageError(f"no study {name!r} in {label}; studies there: {names}")
    directions = [optuna.study.StudyDirection[direction.upper()]]
    try:
        return with_retry(lambda: storage.create_new_study(directions, name),
                          f"create study {name!r} in {label}"), True
    except optuna.exceptions.DuplicatedStudyError:  # another worker created it first
        return with_retry(lambda: storage.get_study_id_from_name(name),
                          f"look up study {name!r} in {label}"), False


class _TrialReader:
    """A study's trials as records, re-read incrementally.

    Finished trials never change, so after the first read only trials that were running
    at the last read, and trials created since, are fetched and converted again:

    * journal: the storage replays only new log lines; the running trials and the new
      ones are taken from its replay;
    * RDB: one query (:func:`nas.search.batch.read_rdb`) for the running trials this
      process knows of and for every trial above the id of the last one known without a
      gap in trial numbers (so a trial still being created under a lower number is not
      skipped);
    * other storages: everything is read, and only changed trials are converted.
    """

    def __init__(self, storage, study_id: int):
        self.storage, self.study_id = storage, study_id
        self.records: list[TrialRecord | None] = []  # by trial number
        self._frozen: dict[int, object] = {}  # number -> the FrozenTrial last converted
        self._running: dict[int, TrialRecord] = {}  # id -> trial running at the last read
        self.index = FinishedIndex()  # finished trials: they never change
        self._indexed: set[int] = set()  # their numbers
        self._known = 0  # numbers 0 .. _known - 1 are all known
        self._watermark = -1  # largest trial id among those numbers

    def read(self) -> tuple[tuple[TrialRecord, ...], tuple[TrialRecord, ...]]:
        """Every trial by number, and the running ones."""
        for trial in self._changed():
            self._put(trial)
        while self._known < len(self.records) and self.records[self._known] is not None:
            self._watermark = max(self._watermark, self.records[self._known].trial_id)
            self._known += 1
        active = tuple(sorted(self._running.values(), key=lambda r: r.number))
        if self._known == len(self.records):
            return tuple(self.records), active
        return tuple(r for r in self.records if r is not None), active

    def _changed(self) -> list:
        storage = self.storage
        if isinstance(storage, optuna.storages.JournalStorage):
            with storage._thread_lock:
                storage._sync_with_backend()
                replay = storage._replay_result
                ids = replay._study_id_to_trial_ids[self.study_id][len(self.records):]
                return [replay._trials[i] for i in (*self._running, *ids)]
        if isinstance(storage, optuna.storages.RDBStorage):
            return read_rdb(storage, self.study_id, set(self._running), self._watermark)
        return storage.get_all_trials(self.study_id, deepcopy=False)

    def _put(self, trial) -> None:
        number = trial.number
        if number < len(self.records) and self._frozen.get(number) is trial:
            return  # the same object as last time: unchanged
        while len(self.records) <= number:
            self.records.append(None)
        record = self.records[number] = from_frozen(trial)
        self._frozen[number] = trial
        if record.running:
            self._running[record.trial_id] = record
            return
        self._running.pop(record.trial_id, None)
        if number not in self._indexed:
            self._indexed.add(number)
            self.index.add(record)
