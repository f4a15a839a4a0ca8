"""One storage write per state change of a trial, on every Optuna storage.

Optuna's storage API writes one attribute per call, and every call is its own
transaction (RDB: a commit; journal: an appended line with an ``fsync``). A trial's
result is about 20 attributes, so the search would pay 20 commits for one state change.
:func:`write_trial` writes any number of user and system attributes, and optionally the
trial's new state and value, as **one** write:

* journal file: every log line of the change appended in one ``append_logs`` call (one
  lock, one write, one ``fsync``);
* RDB (PostgreSQL, SQLite, ...): one transaction that locks the trial row, checks it is
  still running, upserts the attributes (one multi-row statement per table on
  PostgreSQL and SQLite) and sets the state;
* any other storage: one call per attribute (correct, not batched).

Either the whole change lands or, when the trial was finished by someone else first
(e.g. failed as stale by another worker), none of it: ``UpdateFinishedTrialError``.
These helpers use Optuna internals (``optuna.storages._rdb``, the journal's log
operations), pinned by the tests in ``tests/search/test_batch.py`` for the installed
Optuna.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages.journal._storage import JournalOperation
from optuna.trial import FrozenTrial, TrialState


def write_trial(storage, trial_id: int, user: dict[str, Any] | None = None,
                system: dict[str, Any] | None = None, state=None,
                value: float | None = None) -> None:
    """Write ``user``/``system`` attributes and, with ``state`` (an Optuna ``TrialState``),
    finish the trial with ``value``, as one storage write.

    Raises:
        optuna.exceptions.UpdateFinishedTrialError: the trial is already finished
            (nothing was written).
    """
    user, system = dict(user or {}), dict(system or {})
    if isinstance(storage, optuna.storages.JournalStorage):
        _write_journal(storage, trial_id, user, system, state, value)
    elif isinstance(storage, optuna.storages.RDBStorage):
        _write_rdb(storage, trial_id, user, system, state, value)
    else:
        _write_each(storage, trial_id, user, system, state, value)


def _write_each(storage, trial_id, user, system, state, value) -> None:
    for key, item in user.items():
        storage.set_trial_user_attr(trial_id, key, item)
    for key, item in system.items():
        storage.set_trial_system_attr(trial_id, key, item)
    if state is not None:
        storage.set_trial_state_values(trial_id, state, None if value is None else [value])


def _now() -> str:
    return datetime.now(tz=timezone.utc).isoformat(timespec="microseconds")


def _write_journal(storage, trial_id, user, system, state, value) -> None:
    logs: list[dict] = [{"op_code": JournalOperation.SET_TRIAL_USER_ATTR,
                         "trial_id": trial_id, "user_attr": {key: item}}
                        for key, item in user.items()]
    logs += [{"op_code": JournalOperation.SET_TRIAL_SYSTEM_ATTR, "trial_id": trial_id,
              "system_attr": {key: item}} for key, item in system.items()]
    if state is not None:
        logs.append({"op_code": JournalOperation.SET_TRIAL_STATE_VALUES, "trial_id": trial_id,
                     "state": state, "values": None if value is None else [value],
                     "datetime_complete": _now()})
    if not logs:
        return
    with storage._thread_lock:
        storage._sync_with_backend()
        trial = storage._replay_result._trials.get(trial_id)
        if trial is not None and trial.state.is_finished():
            raise UpdateFinishedTrialError(f"trial {trial.number} is already finished")
        worker = storage._replay_result.worker_id
        storage._backend.append_logs([{**log, "worker_id": worker} for log in logs])
        _replay_own(storage)


def _replay_own(storage) -> None:
    """Read the journal up to our own lines. The replay raises once per line of ours that
    it refuses (a trial finished between our check and our write, by another process), so
    read on until every line is applied, then raise the first refusal."""
    refused = None
    while True:
        try:
            storage._sync_with_backend()
            break
        except UpdateFinishedTrialError as exc:
            refused = refused or exc
    if refused is not None:
        raise refused


def _write_rdb(storage, trial_id, user, system, state, value) -> None:
    # sqlalchemy, optuna's RDB models: only SQL storages need them (journal runs start faster)
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(storage.scoped_session) as session:
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
        storage.check_trial_is_updatable(trial_id, trial.state)
        for model, attrs in ((models.TrialUserAttributeModel, user),
                             (models.TrialSystemAttributeModel, system)):
            if attrs:
                _upsert(storage, session, model, trial_id, attrs)
        if state is not None:
            if value is not None:
                storage._set_trial_value_without_commit(session, trial, 0, value)
            trial.state = state
            trial.datetime_complete = datetime.now()


def _upsert(storage, session, model, trial_id: int, attrs: dict) -> None:
    """All of ``attrs`` in one statement where the dialect has an upsert."""
    rows = [{"trial_id": trial_id, "key": key, "value_json": json.dumps(item)}
            for key, item in attrs.items()]
    dialect = storage.engine.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(model).values(rows)
        session.execute(stmt.on_conflict_do_update(
            index_elements=[model.trial_id, model.key],
            set_={"value_json": stmt.excluded.value_json}))
        return
    for key, item in attrs.items():  # other databases: Optuna's own per-key path
        storage._set_trial_attr_without_commit(session, model, trial_id, key, item)


def create_trial(storage, study_id: int, user: dict[str, Any], system: dict[str, Any]
                 ) -> tuple[int, int]:
    """A new RUNNING trial with ``user``/``system`` attributes, in one write:
    ``(trial_id, number)``."""

    if isinstance(storage, optuna.storages.RDBStorage):
        return _create_rdb(storage, study_id, user, system)
    template = FrozenTrial(number=-1, state=TrialState.RUNNING, value=None,
                           datetime_start=datetime.now(), datetime_complete=None, params={},
                           distributions={}, user_attrs=user, system_attrs=system,
                           intermediate_values={}, trial_id=-1)
    trial_id = storage.create_new_trial(study_id, template)
    return trial_id, storage.get_trial_number_from_id(trial_id)


def _create_rdb(storage, study_id: int, user: dict, system: dict) -> tuple[int, int]:
    """Optuna's trial creation with the attributes inserted in the same transaction:
    six statements, one commit. As in Optuna, the number is found *after* the insert,
    under the write lock, from the trials of the study with a lower id (SQLite ignores
    the study row's FOR UPDATE): here as the number of the latest of them plus one, a
    look-up in the primary key, where Optuna counts them all (a scan that grows with
    the study)."""
    # sqlalchemy, optuna's RDB models: only SQL storages need them (journal runs start faster)
    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(storage.scoped_session) as session:
        models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
        trial = models.TrialModel(study_id=study_id, number=None, state=TrialState.RUNNING,
                                  datetime_start=datetime.now())
        session.add(trial)
        session.flush()
        model = models.TrialModel
        previous = session.query(model.number).filter(
            model.study_id == study_id, model.trial_id < trial.trial_id).order_by(
            model.trial_id.desc()).limit(1).scalar()
        number = trial.number = 0 if previous is None else previous + 1
        for model, attrs in ((models.TrialUserAttributeModel, user),
                             (models.TrialSystemAttributeModel, system)):
            if attrs:
                session.execute(sqlalchemy.insert(model), [
                    {"trial_id": trial.trial_id, "key": key, "value_json": json.dumps(item)}
                    for key, item in attrs.items()])
        return trial.trial_id, number


@dataclass
class TrialRow:
    """What :func:`nas.search.history.from_frozen` reads of a trial, read straight from
    the RDB tables (no ``FrozenTrial``, no params or intermediate values)."""

    _trial_id: int
    number: int
    state: Any
    datetime_start: datetime | None
    datetime_complete: datetime | None
    values: list[float] | None = None
    user_attrs: dict = field(default_factory=dict)
    system_attrs: dict = field(default_factory=dict)


def read_rdb(storage, study_id: int, running: set[int], above: int) -> list[TrialRow]:
    """The trials of ``study_id`` whose id is in ``running`` or above ``above``: four
    statements in one read-only transaction, whatever the number of trials."""
    # sqlalchemy, optuna's RDB models: only SQL storages need them (journal runs start faster)
    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    trial = models.TrialModel
    columns = (trial.trial_id, trial.number, trial.state, trial._datetime_start_utc,
               trial._datetime_complete_utc)
    # two primary-key look-ups (new ids, running ids), not one filter over the study
    query = sqlalchemy.select(*columns).where(trial.study_id == study_id,
                                              trial.trial_id > above)
    if running:
        query = sqlalchemy.union_all(query, sqlalchemy.select(*columns).where(
            trial.trial_id.in_(sorted(running))))
    with _create_scoped_session(storage.scoped_session) as session:
        rows = {r[0]: TrialRow(r[0], r[1], trial.state.type.enum_class[r[2]]
                               if isinstance(r[2], str) else r[2], _utc(r[3]), _utc(r[4]))
                for r in session.execute(query)}
        if not rows:
            return []
        ids = sorted(rows)
        value = models.TrialValueModel
        for trial_id, stored, kind in session.query(
                value.trial_id, value.value, value.value_type).filter(
                value.trial_id.in_(ids), value.objective == 0):
            rows[trial_id].values = [value.stored_repr_to_value(stored, kind)]
        for model, name in ((models.TrialUserAttributeModel, "user_attrs"),
                            (models.TrialSystemAttributeModel, "system_attrs")):
            for trial_id, key, text in session.query(model.trial_id, model.key,
                                                     model.value_json).filter(
                    model.trial_id.in_(ids)):
                getattr(rows[trial_id], name)[key] = json.loads(text)
    return [rows[i] for i in ids]


def _utc(stamp: datetime | None) -> datetime | None:
    """RDB time stamps are naive UTC."""
    return None if stamp is None else stamp.replace(tzinfo=timezone.utc)
