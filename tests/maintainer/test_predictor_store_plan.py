"""The plan of the default predictor's training store (maintainer/predictor_store.py)."""

from __future__ import annotations

import pytest

from bench.tasks import task_names
from maintainer.predictor_store import PLAN, plan
from nas.space import load_space


def test_plan_has_a_budget_and_epochs_per_grammar_and_task():
    assert len({(g, t) for g, t, _, _ in PLAN}) == len(PLAN)
    assert len({g for g, *_ in PLAN}) >= 3 and len({t for _, t, _, _ in PLAN}) >= 2
    assert sum(b for _, _, b, _ in PLAN) >= 600
    assert plan() == PLAN and all(b > 0 and e > 0 for _, _, b, e in PLAN)


def test_plan_names_only_registered_grammars_and_tasks():
    for grammar, task, _, _ in PLAN:
        load_space(grammar)  # raises for an unknown grammar
        assert task in task_names()


def test_budget_and_only_pick_the_runs():
    assert plan(900, ["ffn/digits"]) == [("ffn", "digits", 900, 4)]
    assert {b for _, _, b, _ in plan(100)} == {100}
    with pytest.raises(SystemExit, match="unknown --only"):
        plan(only=["nope/wine"])
