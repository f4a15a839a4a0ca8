"""The plan of the default predictor's training store (bench/predictor_store.py)."""

from __future__ import annotations

import pytest

from bench.predictor_store import PLAN, plan


def test_plan_has_a_budget_per_grammar_and_task():
    assert len({(g, t) for g, t, _ in PLAN}) == len(PLAN)
    assert len({g for g, _, _ in PLAN}) >= 3 and len({t for _, t, _ in PLAN}) >= 2
    assert plan() == PLAN and all(b > 0 for _, _, b in PLAN)


def test_budget_and_only_pick_the_runs():
    assert plan(900, ["ffn/wine"]) == [("ffn", "wine", 900)]
    assert {b for _, _, b in plan(100)} == {100}
    with pytest.raises(SystemExit, match="unknown --only"):
        plan(only=["nope/wine"])
