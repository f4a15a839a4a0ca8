"""The mutation-locality suite and the wall-clock figures of ``nas perf search``: their
building blocks (figures are not asserted: they depend on the machine's load)."""

from __future__ import annotations

import math

from bench.tasks import get_task
from nas.search.history import History, TrialRecord
from nas.search.perf import get_suite
from nas.search.perf.mutation import METHODS, children, good_parents
from nas.search.perf.search_quality import at, beats_baseline_after, curve, origin_rows
from nas.search.perf.search_targets import TARGET_TEST, best_completed, target_rows
from nas.space import load_space


def test_mutation_suite_is_registered_and_makes_its_children():
    assert callable(get_suite("mutation"))
    space, task = load_space("einspace"), get_task("digits")
    parents = good_parents(space, task)
    assert {"cnn", "resnet-block"} <= set(parents)  # the references that take 1x8x8
    for method in METHODS:
        made = children(method, space, task, parents, 1)
        assert len(made) == len(parents)
        for child, names in made:
            space.check(child, task.input_shape, task.head, enforce_limits=True)
            assert set(names) <= set(parents)
            if method in ("subtree", "small"):
                assert child != parents[names[0]]


def test_best_so_far_against_wall_clock():
    def rec(n, started, finished, value, test):
        return TrialRecord(n, n, "COMPLETE" if value is not None else "FAIL", value,
                           started=started, finished=finished,
                           user_attrs={"test_score": test})

    history = History.of([rec(0, 100.0, 110.0, 0.5, 0.4), rec(1, 110.0, 130.0, 0.4, 0.9),
                          rec(2, 130.0, 135.0, None, None), rec(3, 135.0, 150.0, 0.8, 0.7)])
    points = curve(history)
    assert points == [(10.0, 0.5, 0.4), (50.0, 0.8, 0.7)]  # only improvements, from start
    assert all(math.isnan(v) for v in at(points, 5.0))
    assert at(points, 49.0) == (0.5, 0.4) and at(points, 60.0) == (0.8, 0.7)


def test_beating_the_baseline_means_above_it_at_every_time_point():
    new = [[(10.0, 0.5, 0.5), (100.0, 0.9, 0.9)], [(20.0, 0.6, 0.6)]]
    base = [[(5.0, 0.55, 0.5)], [(5.0, 0.7, 0.7)]]
    # medians: new 0.55 from 20 s, 0.75 from 100 s; baseline 0.625 throughout
    assert beats_baseline_after(new, base, 100.0, 200.0)
    assert not beats_baseline_after(new, base, 20.0, 200.0)
    assert not beats_baseline_after(base, base, 100.0, 200.0)  # equal is not above


def test_children_are_counted_per_origin_against_their_parent():
    def rec(n, value, origin, parents=()):
        return TrialRecord(n, n, "COMPLETE", value, arch=f"a{n}", arch_id=f"a{n}",
                           started=float(n), finished=n + 0.5,
                           user_attrs={"origin": origin, "parents": list(parents)})

    history = History.of([rec(0, 0.9, "random"), rec(1, 0.89, "mutation:leaf", ["a0"]),
                          rec(2, 0.5, "mutation:swap", ["a0"]), rec(3, 0.95, "crossover",
                                                                   ["a0", "a1"])])
    rows = {r["figure"]: r for r in origin_rows({"x": [history]})}
    mutation = rows["children from mutation:*, x"]
    assert mutation["n"] == 2 and mutation["value"] == 0.695
    assert mutation["within 2 pts of parent"] == 0.5  # 0.89 vs 0.9 yes, 0.5 no
    assert rows["children from crossover, x"]["within 2 pts of parent"] == 1.0
    assert rows["children from random, x"]["within 2 pts of parent"] is None


def test_target_rows_give_each_seed_and_the_median_against_the_target_and_the_references():
    runs = [{"task": "digits", "seed": s, "val": 1.0, "test": t, "val-best test": 0.95,
             "cv": 0.98, "winner test": 0.975, "finalists": f, "origin": "mutation:leaf",
             "arch": "linear(10)", "evaluations": 100, "stopped at a rung": 60,
             "references": 5, "reference": "cnn2-mlp", "reference test": b,
             "retrained": f > 0, "best completed test": 0.9916, "its val": 0.9926}
            for s, t, b, f in ((1, 0.99, 0.97, 5), (2, 0.97, 0.96, 0), (3, 0.986, 0.98, 0))]
    rows = target_rows(runs, 1200.0)
    assert [r["value"] for r in rows] == [0.99, 0.97, 0.986, 0.986]
    assert [r["baseline"] for r in rows] == [0.97, 0.96, 0.98, 0.97]  # the references
    assert "final selection's winner" in rows[0]["detail"]
    assert "as searched: 0.9500" in rows[0]["detail"]  # the best by validation, beside it
    assert "final selection" not in rows[1]["detail"] and "cnn2-mlp" in rows[1]["detail"]
    assert "best completed network: test 0.9916 (validation 0.9926)" in rows[1]["detail"]
    unscored = target_rows([{**runs[0], "retrained": False}], 1200.0)[0]["detail"]
    assert unscored.startswith("final selection had no winner in time")
    median = rows[-1]
    assert median["met"] == 2 and median["n"] == 3 and median["target"] == f">= {TARGET_TEST}"
    assert "--time-limit 20m --workers 2" in median["detail"]
    assert get_suite("search_targets") is not None


def test_best_completed_is_the_best_test_among_completed_networks_only():
    def rec(n, state, val, test):
        return TrialRecord(n, n, state, val, arch=f"a{n}", arch_id=f"a{n}",
                           started=float(n), finished=n + 0.5,
                           user_attrs={} if test is None else {"test_score": test})

    history = History.of([rec(0, "COMPLETE", 0.99, 0.95), rec(1, "COMPLETE", 0.97, 0.98),
                          rec(2, "PRUNED", 0.5, 0.999), rec(3, "COMPLETE", 0.96, None)])
    # the best by validation (0.99) is not the best on test; a stopped trial never counts
    assert best_completed(history) == {"best completed test": 0.98, "its val": 0.97}
    nothing = best_completed(History.of([rec(0, "PRUNED", 0.5, None)]))
    assert all(math.isnan(v) for v in nothing.values())
