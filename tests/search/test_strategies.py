"""Strategies: valid, seeded proposals; regularized evolution's population, tournament, ageing."""

from __future__ import annotations

import random

import pytest

from bench.tasks import get_task
from nas.heads import HeadSpec
from nas.search.claims import matching_references
from nas.search.config import SearchConfig
from nas.search.history import History, TrialRecord
from nas.search.strategies import EvolutionStrategy, RandomStrategy
from nas.search.strategy_registry import make_strategy
from nas.space import load_space

SHAPE = (1, 8, 8)
HEAD = HeadSpec("classification", 10)


@pytest.fixture(scope="module")
def space():
    return load_space("einspace")


def completed(space, scores, seed0=0):
    """History of completed trials with distinct sampled archs and the given scores."""
    records, seen, seed = [], set(), seed0
    for number, score in enumerate(scores):
        arch = space.sample(SHAPE, seed=seed, head=HEAD)
        while arch.id in seen:
            seed += 1
            arch = space.sample(SHAPE, seed=seed, head=HEAD)
        seen.add(arch.id)
        seed += 1
        records.append(TrialRecord(trial_id=number, number=number, state="COMPLETE",
                                   value=score, arch=str(arch), arch_id=arch.id))
    return records


def test_random_proposals_are_valid_and_seeded(space, seed):
    strategy = RandomStrategy(space, SHAPE, HEAD)
    a = strategy.propose(History.of([]), random.Random(seed))
    b = strategy.propose(History.of([]), random.Random(seed))
    assert a.arch == b.arch and a.origin == "random"
    space.check(a.arch, SHAPE, HEAD)


def test_evolution_samples_at_random_until_the_population_is_full(space):
    strategy = EvolutionStrategy(space, SHAPE, HEAD, population=4, tournament=2)
    history = History.of(completed(space, [0.1, 0.2, 0.3]))
    assert strategy.propose(history, random.Random(0)).origin == "random"
    history = History.of(completed(space, [0.1, 0.2, 0.3, 0.4]))
    assert strategy.propose(history, random.Random(0)).origin.startswith("mutation:")
    subtree = EvolutionStrategy(space, SHAPE, HEAD, population=4, tournament=2,
                                mutation="subtree")  # einspace's, kept as the baseline
    assert subtree.propose(history, random.Random(0)).origin == "mutation"


def test_a_full_tournament_picks_the_fittest_and_its_child_is_valid(space, seed):
    records = completed(space, [0.3, 0.9, 0.5, 0.2])
    strategy = EvolutionStrategy(space, SHAPE, HEAD, population=4, tournament=4)
    proposal = strategy.propose(History.of(records), random.Random(seed))
    assert proposal.parents == (records[1].arch_id,)
    assert proposal.arch.id != records[1].arch_id
    space.check(proposal.arch, SHAPE, HEAD)


def test_the_fittest_is_the_lowest_score_when_minimising(space):
    records = completed(space, [0.3, 0.9, 0.05, 0.2])
    strategy = EvolutionStrategy(space, SHAPE, HEAD, population=4, tournament=4)
    proposal = strategy.propose(History.of(records, maximize=False), random.Random(0))
    assert proposal.parents == (records[2].arch_id,)


def test_ageing_removes_the_oldest_even_when_it_is_the_best(space, seed):
    records = completed(space, [0.99, 0.1, 0.2, 0.3, 0.4])
    strategy = EvolutionStrategy(space, SHAPE, HEAD, population=4, tournament=4)
    proposal = strategy.propose(History.of(records), random.Random(seed))
    assert proposal.parents == (records[4].arch_id,)  # trial 0 aged out


def test_crossover_uses_two_tournament_winners(space, seed):
    records = completed(space, [0.3, 0.9, 0.5, 0.2, 0.6])
    strategy = EvolutionStrategy(space, SHAPE, HEAD, population=5, tournament=5,
                                 crossover_rate=1.0)
    proposal = strategy.propose(History.of(records), random.Random(seed))
    assert proposal.origin == "crossover"
    assert proposal.parents == (records[1].arch_id, records[4].arch_id)
    space.check(proposal.arch, SHAPE, HEAD)


def test_failed_and_running_trials_are_not_parents(space):
    records = completed(space, [0.3, 0.4, 0.5, 0.6])
    records[3] = TrialRecord(3, 3, "FAIL", None, records[3].arch, records[3].arch_id)
    records.append(TrialRecord(4, 4, "RUNNING", None, "x", "fffffffffff0"))
    strategy = EvolutionStrategy(space, SHAPE, HEAD, population=5, tournament=5)
    proposal = strategy.propose(History.of(records), random.Random(0))
    assert proposal.parents == (records[2].arch_id,)


def test_default_evolution_sizes_scale_with_the_budget():
    assert SearchConfig(budget=16).evolution_sizes() == (5, 2)
    assert SearchConfig(budget=1000).evolution_sizes() == (100, 10)
    assert SearchConfig(budget=100, population=20, tournament=50).evolution_sizes() == (20, 20)


def test_references_are_kept_only_for_the_task_input_shape(space):
    found = dict(matching_references(space, SHAPE, HEAD))
    assert {"cnn", "resnet-block"} <= set(found)
    assert "cnn1d" not in found


def test_equal_scores_are_ordered_by_the_lower_validation_loss(space):
    """A tie at the top (frequent on digits' 270 validation rows) goes to the lower
    validation loss, in the tournament and in History.best; trials without a recorded
    loss (older studies) rank below those with one."""
    records = completed(space, [1.0, 1.0, 1.0, 0.5])
    losses = [0.30, 0.02, None, 0.01]
    records = [TrialRecord(r.trial_id, r.number, r.state, r.value, arch=r.arch,
                           arch_id=r.arch_id,
                           user_attrs={} if loss is None else {"val_loss": loss})
               for r, loss in zip(records, losses, strict=True)]
    history = History.of(records)
    assert history.best().arch_id == records[1].arch_id
    strategy = EvolutionStrategy(space, SHAPE, HEAD, population=4, tournament=4)
    assert strategy.propose(history, random.Random(0)).parents == (records[1].arch_id,)
    minimising = History.of(records, maximize=False)
    assert minimising.best().arch_id == records[3].arch_id  # the score comes first


def test_the_strategies_sample_from_the_start_small_space():
    """--stop-probability: proposals come from the resized sampler (smaller networks),
    'grammar' keeps the grammar's own; the space used for checks is untouched."""
    space, task = load_space("einspace"), get_task("digits")
    sizes = {}
    for stop in (None, 0.7):
        config = SearchConfig(strategy="random", stop_probability=stop)
        strategy = make_strategy(config, space, task)
        rng = random.Random(0)
        sizes[stop] = sum(strategy.propose(History.of([]), rng).arch.nodes
                          for _ in range(200)) / 200
    assert sizes[0.7] < 0.75 * sizes[None]
    assert space.grammar.probs == {"module": {"computation": 0.32}}


def test_immigrants_are_fresh_samples_at_their_rate(space):
    history = History.of(completed(space, [0.1, 0.2, 0.3, 0.4]))
    always = EvolutionStrategy(space, SHAPE, HEAD, population=4, tournament=2,
                               immigrant_rate=1.0)
    never = EvolutionStrategy(space, SHAPE, HEAD, population=4, tournament=2)
    quarter = EvolutionStrategy(space, SHAPE, HEAD, population=4, tournament=2,
                                immigrant_rate=0.25)
    origins = {name: [s.propose(history, random.Random(seed)).origin for seed in range(200)]
               for name, s in (("always", always), ("never", never), ("quarter", quarter))}
    assert set(origins["always"]) == {"random"}
    assert "random" not in origins["never"]
    assert 30 <= origins["quarter"].count("random") <= 70  # 50 expected of 200

