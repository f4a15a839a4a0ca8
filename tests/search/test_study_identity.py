"""A study knows its data and settings (issue 14): a resume that would mix scores made
differently is refused in one line and touches nothing; settings are recorded per
trial and shown by the leaderboard. On every storage, with workers starting at once."""

from __future__ import annotations

import json
import multiprocessing
import uuid

import pytest
from identity_race import open_at_once
from search_checks import check_run, open_run

from bench.leaderboard import load_leaderboard
from bench.storage import open_storage
from nas.cli import run_app
from nas.errors import StudyMismatchError
from nas.search import SearchConfig, run_search
from nas.search.study import SearchStudy

TINY = ["--epochs", "1", "--tune-trials", "1", "--trial-seconds", "30"]
SETTINGS = {"target": None, "task_options": {}, "tune_trials": 1, "epochs": 1,
            "min_epochs": 1, "rung_factor": 3, "trial_seconds": 30.0, "seed": 0}


def identity(**settings) -> dict:
    return {"grammar": "ffn", "grammar_hash": "g1", "task": "wine", "metric": "accuracy",
            "data": "built-in wine (data version 1)", "settings": {**SETTINGS, **settings}}


@pytest.fixture(params=["journal", "sqlite", "postgresql"])
def spec(request, tmp_path):
    """One storage of each kind (PostgreSQL: the session's server, skipped without one
    except under CI)."""
    if request.param == "journal":
        return str(tmp_path / "study.journal")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/study.db"
    return request.getfixturevalue("postgres_url")


def test_the_settings_that_define_scores_are_declared_on_the_config():
    assert set(SearchConfig().score_settings()) == set(SETTINGS)


def test_a_resume_with_other_settings_is_refused_and_changes_nothing(spec):
    name = f"s-{uuid.uuid4().hex[:8]}"
    study = SearchStudy.open(spec, name, direction="maximize", identity=identity())
    trial_id, _ = study.create_trial()
    study.finish(trial_id, "COMPLETE", 0.5)
    before = (study.user_attrs(), study.history().records)
    with pytest.raises(StudyMismatchError) as refused:
        SearchStudy.open(spec, name, direction="maximize",
                         identity=identity(epochs=3, task_options={"n_train": 50}))
    line = str(refused.value)
    assert "--epochs 1 -> 3" in line and "--task-option {} -> {n_train=50}" in line
    assert "--study NEW_NAME" in line and "\n" not in line
    other_data = {**identity(), "data": "sha256:" + "ab" * 32}
    with pytest.raises(StudyMismatchError, match=r"task data built-in wine .* -> sha256 "
                                                 r"abababababab"):
        SearchStudy.open(spec, name, direction="maximize", identity=other_data)
    again = SearchStudy.open(spec, name, direction="maximize", identity=identity())
    assert (again.user_attrs(), again.history().records) == before


def test_equal_settings_given_as_tuple_or_list_are_the_same(tmp_path):
    spec = str(tmp_path / "t.journal")
    SearchStudy.open(spec, "t", direction="maximize",
                     identity=identity(task_options={"drop": ("id", "name")}))
    SearchStudy.open(spec, "t", direction="maximize",
                     identity=identity(task_options={"drop": ["id", "name"]}))
    with pytest.raises(StudyMismatchError, match=r"--task-option \{drop=\['id', 'name'\]\} "
                                                 r"-> \{drop=\['id'\]\}"):
        SearchStudy.open(spec, "t", direction="maximize",
                         identity=identity(task_options={"drop": ("id",)}))


def test_a_study_from_before_settings_were_recorded_is_compared_with_its_old_attrs(tmp_path):
    spec = str(tmp_path / "old.journal")
    old = SearchStudy.open(spec, "old", direction="maximize",
                           identity={k: v for k, v in identity().items() if k != "settings"})
    for key, value in {"epochs": 1, "inner_trials": 1, "seed": 0}.items():
        old.set_study_attr(key, value)  # what earlier versions recorded per run
    old.finish(old.create_trial()[0], "COMPLETE", 0.4)
    with pytest.raises(StudyMismatchError, match="--tune-trials 1 -> 4"):
        SearchStudy.open(spec, "old", direction="maximize", identity=identity(tune_trials=4))
    SearchStudy.open(spec, "old", direction="maximize", identity=identity())
    assert SearchStudy.open(spec, "old", create=False).user_attrs()["settings"] == SETTINGS


@pytest.mark.slow
def test_workers_starting_a_study_at_once_with_different_settings_never_mix(spec):
    """Four processes create one study at the same moment, two with --epochs 1 and two
    with --epochs 2: the first creator's settings hold and every other worker either
    shares them or is refused."""
    name = f"race-{uuid.uuid4().hex[:8]}"
    open_storage(spec, create=True)  # the storage exists (its schema), the study does not
    mp = multiprocessing.get_context("spawn")
    results, barrier = mp.Queue(), mp.Barrier(4)
    procs = [mp.Process(target=open_at_once,
                        args=(spec, name, identity(epochs=1 + i % 2), barrier, results))
             for i in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=180)
        assert proc.exitcode == 0
    outcomes = [results.get(timeout=10) for _ in procs]
    accepted = [epochs for verdict, epochs in outcomes if verdict == "accepted"]
    recorded = SearchStudy.open(spec, name, create=False).user_attrs()["settings"]["epochs"]
    assert accepted == [recorded, recorded]
    assert [e for v, e in outcomes if v == "refused"] == [3 - recorded] * 2


# --- real searches ------------------------------------------------------------------------


def _iris(path, edit: bool = False):
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    if edit:
        frame.iloc[0, 0] += 0.1  # one value of one row
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def _search(capsys, csv: str, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = run_app(["search", "-g", "ffn", "-t", csv, "--target", "species", "--study", "iris",
                    "--out", "run", "-n", "1", "--strategy", "random", *TINY, *extra])
    return code, capsys.readouterr().err


@pytest.mark.slow
def test_a_search_refuses_other_data_or_settings_and_records_them_per_trial(workdir,
                                                                           capsys):
    _iris(workdir / "iris.csv")
    assert _search(capsys, "iris.csv")[0] == 0
    journal = workdir / "run" / "study.journal"
    stored = (journal.read_bytes(), (workdir / "run" / "run.json").read_bytes())
    _iris(workdir / "iris.csv", edit=True)  # the same file, edited
    code, err = _search(capsys, "iris.csv")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "task data sha256" in err and "--study NEW_NAME (or a new --out)" in err
    _iris(workdir / "iris.csv")  # back as it was
    for extra, change in ((["--epochs", "2"], "--epochs 1 -> 2"),
                          (["--seed", "3"], "--seed 0 -> 3"),
                          (["--task-option", "val_fraction=0.3"],
                           "--task-option {} -> {val_fraction=0.3}")):
        code, err = _search(capsys, "iris.csv", *extra)
        assert code == 2 and change in err and len(err.strip().splitlines()) == 1
    assert (journal.read_bytes(), (workdir / "run" / "run.json").read_bytes()) == stored
    # the same data elsewhere (as on another machine) is the same study
    _iris(workdir / "elsewhere" / "iris.csv")
    assert _search(capsys, "elsewhere/iris.csv", "-n", "2")[0] == 0
    history = check_run(workdir / "run", 2)
    data = open_run(workdir / "run").user_attrs()["data"]
    assert data.startswith("sha256:")
    for record in history.evaluated:
        assert record.user_attrs["settings"] == {**SETTINGS, "target": "species"}
        assert record.user_attrs["data"] == data
    assert run_app(["status", "--run", "run", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["settings"] == {**SETTINGS, "target": "species"} and status["data"] == data
    assert run_app(["status", "--run", "run"]) == 0
    assert "scores made with: epochs=1, min_epochs=1" in capsys.readouterr().out
    board = load_leaderboard(run=workdir / "run")
    assert "epochs=1" in board.reproducibility["study attr settings"]
    assert "tune_trials=1" in board.reproducibility["study attr settings"]


@pytest.mark.slow
def test_a_new_study_name_or_run_directory_starts_afresh(workdir):
    base = dict(grammar="ffn", task="wine", budget=1, strategy="random", tune_trials=1,
                trial_seconds=30)
    run_search(SearchConfig(epochs=1, out="a", **base))
    run_search(SearchConfig(epochs=2, out="b", **base))  # a new --out: a new study
    assert open_run(workdir / "b").user_attrs()["settings"]["epochs"] == 2
    assert open_run(workdir / "a").user_attrs()["settings"]["epochs"] == 1
