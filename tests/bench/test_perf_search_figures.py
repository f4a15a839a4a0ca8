"""The mutation-locality suite and the wall-clock figures of ``nas perf search``: their
building blocks (figures are not asserted: they depend on the machine's load)."""

from __future__ import annotations

import math

from bench.tasks import get_task
from nas.search.history import History, TrialRecord
from nas.search.perf import get_suite
from nas.search.perf.mutation import METHODS, children, good_parents
from nas.search.perf.search_time import at, curve
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
