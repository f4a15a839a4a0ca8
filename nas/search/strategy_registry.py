"""The search strategies by name: the one table that ``--strategy`` is checked against.

Each entry builds its strategy from a :class:`~nas.search.config.SearchConfig`, the
space and the task (``(config, space, task) -> Strategy``). A new strategy is a
:class:`~nas.search.strategies.Strategy` subclass plus one ``STRATEGIES.register`` line
here; the config's validation, the worker and the tests follow the table. It sits apart
from the strategies' base module so that no strategy module imports another.
"""

from __future__ import annotations

from nas.registry import Registry
from nas.search.predictor_strategy import PredictorStrategy
from nas.search.strategies import EvolutionStrategy, RandomStrategy, Strategy

STRATEGIES: Registry = Registry("strategy", hint="choose one with --strategy")


@STRATEGIES.register("random")
def _random(config, space, task) -> Strategy:
    return RandomStrategy(space, task.input_shape, task.head)


@STRATEGIES.register("evolution")
def _evolution(config, space, task) -> Strategy:
    population, tournament = config.evolution_sizes()
    return EvolutionStrategy(space, task.input_shape, task.head, population=population,
                             tournament=tournament, crossover_rate=config.crossover_rate,
                             immigrant_rate=config.immigrant_rate,
                             mutation=config.mutation)


@STRATEGIES.register("predictor")
def _predictor(config, space, task) -> Strategy:
    return PredictorStrategy(space, task.input_shape, task.head,
                             candidates=config.candidates, warmup=config.predictor_warmup,
                             seed=config.seed, mutation=config.mutation,
                             trainability=config.trainability,
                             min_trainability=config.min_trainability)


def make_strategy(config, space, task) -> Strategy:
    """The strategy ``config.strategy`` for ``task``'s input shape and head.

    Raises:
        UnknownNameError: ``config.strategy`` is not registered (the message lists them).
    """
    # start small (docs/search.md): proposals are drawn from the resized sampler; the
    # study's identity and every check still use the grammar's own space
    sampling_space = space.with_stop_probability(config.stop_probability)
    return STRATEGIES.get(config.strategy)(config, sampling_space, task)
