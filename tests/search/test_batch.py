"""One write per state change, and incremental reads, on real storages (issue 16)."""

from __future__ import annotations

import uuid

import pytest
from optuna.exceptions import UpdateFinishedTrialError

from nas.search.history import History, from_frozen
from nas.search.study import SearchStudy

STORAGES = ["journal", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORAGES)
def spec(request, tmp_path) -> str:
    return {"journal": lambda: str(tmp_path / "s.journal"),
            "sqlite": lambda: str(tmp_path / "s.db"),
            "postgres": lambda: request.getfixturevalue("postgres_url")}[request.param]()


@pytest.fixture
def any_study(spec) -> SearchStudy:
    """An empty study on each kind of storage."""
    return SearchStudy.open(spec, f"batch-{uuid.uuid4().hex[:8]}", direction="maximize")


def full_read(study: SearchStudy) -> History:
    """The whole study read afresh, the way it was read before incremental reads."""
    trials = study.storage.get_all_trials(study.study_id, deepcopy=False)
    return History.of([from_frozen(t) for t in trials], study.maximize)


def test_a_result_and_its_finish_are_written_together(any_study):
    trial_id, number = any_study.create_trial({"worker": "w:1"}, {"nas:lease_until": 1.0})
    attrs = {f"k{i}": i for i in range(12)} | {"skipped": None}
    assert any_study.update(trial_id, attrs, {"nas:flag": True}, state="COMPLETE", value=0.5)
    record = any_study.record(trial_id)
    assert (record.number, record.state, record.value) == (number, "COMPLETE", 0.5)
    assert {k: record.user_attrs[k] for k in attrs if k != "skipped"} == {
        k: v for k, v in attrs.items() if v is not None}
    assert "skipped" not in record.user_attrs and record.user_attrs["worker"] == "w:1"
    frozen = any_study.storage.get_trial(trial_id)
    assert frozen.system_attrs == {"nas:lease_until": 1.0, "nas:flag": True}


def test_nothing_lands_on_a_trial_someone_else_finished(any_study):
    trial_id, _ = any_study.create_trial({"worker": "w:1"})
    assert any_study.update(trial_id, {"fail_reason": "stale"}, {"nas:requeue": True},
                            state="FAIL")  # the reaper wins
    assert not any_study.update(trial_id, {"val_score": 0.9}, state="COMPLETE", value=0.9)
    with pytest.raises(UpdateFinishedTrialError):
        any_study.set_user_attrs(trial_id, {"late": 1})
    record = any_study.record(trial_id)
    assert record.state == "FAIL" and record.requeue and record.value is None
    assert "val_score" not in record.user_attrs and "late" not in record.user_attrs
    assert any_study.history().get(trial_id) == record  # the refused lines left no trace


def test_the_incremental_read_equals_a_full_read(spec, any_study):
    trials = [any_study.create_trial({"worker": f"w:{i}"}) for i in range(6)]
    assert any_study.history().records == full_read(any_study).records
    for trial_id, number in trials[:3]:
        any_study.update(trial_id, {"arch_id": f"a{number}"}, state="COMPLETE", value=number)
    any_study.set_user_attrs(trials[4][0], {"arch_id": "a4"})
    other = SearchStudy.open(spec, any_study.name, create=False)  # as another process would
    late, _ = other.create_trial({"worker": "other:1"})
    other.update(late, {"arch_id": "late"}, state="COMPLETE", value=9.0)
    history = any_study.history()
    assert history.records == full_read(any_study).records
    assert [r.number for r in history.records] == list(range(7))
    assert history.get(late).arch_id == "late" and len(history.running) == 3


def test_a_journal_state_change_is_one_append(tmp_path):
    study = SearchStudy.open(str(tmp_path / "s.journal"), "one", direction="maximize")
    backend = study.storage._backend
    appends = []
    real = backend.append_logs
    backend.append_logs = lambda logs: (appends.append(len(logs)), real(logs))[1]
    trial_id, _ = study.create_trial({"worker": "w:1"}, {"nas:lease_until": 1.0})
    study.update(trial_id, {f"k{i}": i for i in range(15)}, state="COMPLETE", value=1.0)
    assert appends == [1, 16]  # creation (attributes inside), then 15 attributes + finish


def _create_some(spec: str, name: str, n: int) -> list[int]:
    study = SearchStudy.open(spec, name, create=False)
    return [study.create_trial({"worker": "race"})[1] for _ in range(n)]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_racing_creators_get_distinct_numbers(request, tmp_path, kind):
    """Trial numbers are counted under the write lock: processes creating trials at the
    same time never get the same number (the budget and the reads rely on it)."""
    import multiprocessing

    spec = (str(tmp_path / "race.db") if kind == "sqlite"
            else request.getfixturevalue("postgres_url"))
    name = f"race-{uuid.uuid4().hex[:8]}"
    SearchStudy.open(spec, name, direction="maximize")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        numbers = sum(pool.starmap(_create_some, [(spec, name, 10)] * 4), [])
    assert sorted(numbers) == list(range(40))
    records = SearchStudy.open(spec, name, create=False).history().records
    assert [r.number for r in records] == list(range(40))
