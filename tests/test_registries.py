"""Every plugin family uses one registry (nas.registry); these tests walk each of them.

For every entry: the look-up gives a working plugin of that name. For a name that is not
registered: the family's own error, naming every entry.
"""

from __future__ import annotations

import inspect

import pytest

from bench.tasks import get_task
from bench.tasks.registry import TASK_FAMILIES, TASKS
from nas.errors import NasError, PredictorError, TaskError, UnknownNameError
from nas.heads import HEADS
from nas.search.config import SearchConfig
from nas.search.perf import SUITES, get_suite
from nas.search.strategies import Strategy
from nas.search.strategy_registry import STRATEGIES, make_strategy
from nas.space import load_space
from predictors.encoders import ENCODERS, make_encoder
from predictors.regressors import REGRESSORS, make_regressor

FAMILIES = {
    "strategy": (STRATEGIES, UnknownNameError),
    "regressor": (REGRESSORS, PredictorError),
    "encoder": (ENCODERS, PredictorError),
    "head kind": (HEADS, TaskError),
    "task": (TASKS, TaskError),
    "task family": (TASK_FAMILIES, TaskError),
    "perf suite": (SUITES, UnknownNameError),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_an_unknown_name_fails_naming_every_entry(family):
    registry, error = FAMILIES[family]
    assert registry.family == family and len(registry) > 0
    with pytest.raises(error) as err:
        registry.get("no-such-plugin")
    assert isinstance(err.value, NasError)
    assert f"unknown {family} 'no-such-plugin'; choose one of {', '.join(registry)}" \
        in str(err.value)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_builds_from_a_config(name):
    task = get_task("digits")
    strategy = make_strategy(SearchConfig(strategy=name), load_space("einspace"), task)
    assert isinstance(strategy, Strategy) and strategy.name == name
    assert strategy.input_shape == task.input_shape and strategy.head == task.head


def test_a_config_accepts_exactly_the_registered_strategies():
    for name in STRATEGIES:
        assert SearchConfig(strategy=name).strategy == name
    with pytest.raises(NasError, match=f"is not one of {', '.join(STRATEGIES)}"):
        SearchConfig(strategy="annealing")


@pytest.mark.parametrize("name", REGRESSORS.names())
def test_every_regressor_is_made_by_name(name):
    regressor = make_regressor(name)
    assert type(regressor) is REGRESSORS.get(name) and regressor.kind == name


@pytest.mark.parametrize("name", ENCODERS.names())
def test_every_encoder_is_made_by_name(name):
    # construction only: the MiniLM model is loaded on first use
    assert type(make_encoder(name)) is ENCODERS.get(name)


@pytest.mark.parametrize("name", TASKS.names())
def test_every_fixed_task_describes_itself_under_its_name(name):
    build, info = TASKS.get(name)
    assert info.name == name and info.kind in HEADS and callable(build)


@pytest.mark.parametrize("prefix", TASK_FAMILIES.names())
def test_every_task_family_names_its_members(prefix):
    family = TASK_FAMILIES.get(prefix)
    for n in family.examples:
        assert family.info(n).name == f"{prefix}-{n}" and family.info(n).kind in HEADS


@pytest.mark.parametrize("name", SUITES.names())
def test_every_perf_suite_is_a_run_function(name):
    suite = get_suite(name)
    assert suite.__module__ == f"nas.search.perf.{name}"
    assert list(inspect.signature(suite).parameters) == ["quick"]
