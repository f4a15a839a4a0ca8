"""The leaderboard reads a search study on every storage, PostgreSQL by its plain
``postgresql://`` URL included, and counts only real evaluations: trials the search
re-queued (killed worker) or discarded (lost the last budget slot) are not failures."""

from __future__ import annotations

import json
import uuid

import pytest

from bench.leaderboard import load_leaderboard
from nas.cli import run_app
from nas.search.history import DISCARDED, REQUEUE
from nas.search.study import SearchStudy


def fill(study: SearchStudy, archs) -> None:
    """Two completed evaluations, one training failure, one re-queued and one discarded
    trial (the re-queued architecture then completed on its re-run)."""
    def attrs(arch, **more):
        return {"arch": str(arch), "arch_id": arch.id, "grammar": "ffn", "task": "wine",
                "metric": "accuracy", **more}

    for arch, score in ((archs[0], 0.9), (archs[1], 0.7)):
        trial_id, _ = study.create_trial()
        study.set_user_attrs(trial_id, attrs(arch, val_score=score, test_score=score - 0.1))
        study.finish(trial_id, "COMPLETE", score)
    trial_id, _ = study.create_trial()  # a real failure: it spent budget
    study.set_user_attrs(trial_id, attrs(archs[2], fail_reason="nan loss"))
    study.finish(trial_id, "FAIL")
    trial_id, _ = study.create_trial()  # a killed worker's trial, re-queued...
    study.set_user_attrs(trial_id, attrs(archs[3], fail_reason="stale: worker h:1 is gone"))
    study.set_system_attrs(trial_id, {REQUEUE: True})
    study.finish(trial_id, "FAIL")
    trial_id, _ = study.create_trial()  # ...and run again
    study.set_user_attrs(trial_id, attrs(archs[3], val_score=0.8, test_score=0.75))
    study.finish(trial_id, "COMPLETE", 0.8)
    trial_id, _ = study.create_trial()  # lost the race for the last budget slot
    study.set_user_attrs(trial_id, {"fail_reason": "discarded: budget reached"})
    study.set_system_attrs(trial_id, {DISCARDED: True})
    study.finish(trial_id, "FAIL")


def spec_for(kind: str, tmp_path, request) -> str:
    if kind == "journal":
        return str(tmp_path / "study.journal")
    if kind == "sqlite":
        return str(tmp_path / "study.db")
    return request.getfixturevalue("postgres_url")  # a plain postgresql:// URL


@pytest.mark.parametrize("kind", ["journal", "sqlite",
                                  pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_requeued_and_discarded_trials_are_not_failed_evaluations(kind, tmp_path, request,
                                                                  archs):
    spec, name = spec_for(kind, tmp_path, request), f"lb-{uuid.uuid4().hex[:8]}"
    fill(SearchStudy.open(spec, name, direction="maximize"), archs)
    board = load_leaderboard(study=name, storage=spec)
    assert board.counts == {"finished": 4, "completed": 3, "failed": 1, "pruned": 0}
    assert list(board.rows["arch_id"]) == [archs[0].id, archs[3].id, archs[1].id]
    assert list(board.rows["evaluations"]) == [1, 1, 1]  # the re-run is one evaluation
    assert list(board.history["trial_number"]) == [0, 1, 2, 4]
    assert list(board.history["state"]) == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE"]


@pytest.mark.postgres
def test_leaderboard_of_a_run_whose_study_is_on_postgresql(postgres_url, archs, tmp_path,
                                                           capsys):
    assert postgres_url.startswith("postgresql://")  # no +driver: the leaderboard adds it
    name = f"lb-{uuid.uuid4().hex[:8]}"
    fill(SearchStudy.open(postgres_url, name, direction="maximize"), archs)
    run = tmp_path / "runs" / name
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"study": name, "storage": postgres_url}))
    assert run_app(["leaderboard", "--run", str(run), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["arch_id"] for r in doc["rows"]] == [archs[0].id, archs[3].id, archs[1].id]
    assert doc["counts"]["failed"] == 1 and doc["counts"]["finished"] == 4
