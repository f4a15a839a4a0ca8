"""``nas perf scale`` on a small scale: the figures come out, and the end-of-run check
catches a study that lost or repeated an evaluation."""

from __future__ import annotations

import math

import optuna
import pytest

from nas.search.perf.scale import _check, _fill, growth, measure_cell
from nas.search.study import SearchStudy

pytestmark = pytest.mark.slow


def test_a_cell_measures_both_loops_and_checks_the_study(tmp_path):
    cell = measure_cell(str(tmp_path / "s.journal"), workers=2, budget=40, eval_s=0.02,
                        seconds=1.5)
    assert 0 < cell["evaluations"] <= 40
    for loop in ("nas", "bare"):
        assert cell[loop]["trials"] > 2 and cell[loop]["rate"] > 0
        assert 0 <= cell[loop]["p50"] <= cell[loop]["p99"] and math.isfinite(cell[loop]["p99"])


def test_growth_compares_a_small_and_a_big_study(tmp_path):
    small, big = growth(str(tmp_path / "g.journal"), 10, 300, trials=5, rounds=1)
    assert small > 0 and big > 0


def test_the_check_refuses_a_repeated_architecture(tmp_path):
    spec = str(tmp_path / "c.journal")
    _fill(spec, "twice", 3)
    study = SearchStudy.open(spec, "twice", create=False)
    trial_id, _ = study.create_trial({"arch": "filler-1", "arch_id": "f00000000001"})
    study.update(trial_id, state="COMPLETE", value=0.1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with pytest.raises(RuntimeError, match="evaluated twice"):
        _check(spec, "twice", [{"completed": 4, "failed": 0}])
