"""Search strategies: propose the next architecture from the study's history.

A strategy is stateless: :meth:`Strategy.propose` reads the :class:`History` (every
worker's trials) and a seeded ``random.Random``, so any number of workers can share
one study. What a strategy does *not* decide: re-running re-queued architectures,
seeding with the grammar's references, and avoiding architectures already claimed;
the worker does those for every strategy (:mod:`nas.search.claims`).

* ``random``: a fresh sample from the grammar.
* ``evolution``: regularized evolution (Real et al. 2019, as in einspace): the first
  ``population`` proposals are random; afterwards the population is the ``population``
  most recently *completed* architectures (older ones age out), a tournament of
  ``tournament`` of them picks the fittest as parent, and the child is a mutation of it
  or, with probability ``crossover_rate``, a crossover with the winner of a second
  tournament. With probability ``immigrant_rate`` a proposal is a fresh sample instead
  (random immigrants, Grefenstette 1992): small steps alone keep a population in the
  basin of its first good lineage. Mutations are small steps by default
  (:mod:`nas.mutation`; the origin records the kind, e.g. ``mutation:leaf``);
  ``mutation="subtree"`` is einspace's (resample any subtree, the root included; origin
  ``mutation``).
* ``predictor``: rank many candidates with an ONNX-Net predictor refitted on the study's
  own results, propose the top one (:mod:`nas.search.predictor_strategy`).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from nas.architecture import Architecture
from nas.heads import HeadSpec
from nas.mutation import small_mutation
from nas.search.history import History, TrialRecord, fitness


@dataclass(frozen=True)
class Proposal:
    """An architecture to evaluate and how it came about (``random``,
    ``mutation:<kind>`` (:data:`nas.mutation.KINDS`), ``mutation`` (einspace's subtree
    mutation), ``crossover``, ``reference:<name>``, ``requeue``); ``attrs`` are extra
    trial user_attrs the strategy records (e.g. ``predicted_score``)."""

    arch: Architecture
    origin: str
    parents: tuple[str, ...] = ()
    attrs: Mapping = field(default_factory=dict, compare=False)


class Strategy(ABC):
    """Proposes architectures of ``space`` for inputs ``input_shape`` with ``head``."""

    name: str = ""

    def __init__(self, space, input_shape: tuple[int, ...], head: HeadSpec | None):
        self.space, self.input_shape, self.head = space, tuple(input_shape), head

    @abstractmethod
    def propose(self, history: History, rng: random.Random) -> Proposal:
        """A new architecture, from ``history`` and ``rng`` only."""

    def sample(self, rng: random.Random) -> Proposal:
        """A fresh random architecture of the space."""
        return Proposal(self.space.sample(self.input_shape, rng, self.head), "random")

    def mutant(self, parent: Architecture, rng: random.Random, small: bool = True
               ) -> tuple[Architecture, str]:
        """(child, origin): one small edit of ``parent`` (:mod:`nas.mutation`), or
        einspace's subtree mutation when ``small`` is False."""
        if not small:
            return self.space.mutate(parent, self.input_shape, rng, self.head), "mutation"
        found = small_mutation(self.space, parent, self.input_shape, rng, self.head)
        return found.arch, f"mutation:{found.kind}"


class RandomStrategy(Strategy):
    """Random search: every proposal is a fresh sample of the grammar."""

    name = "random"

    def propose(self, history: History, rng: random.Random) -> Proposal:
        return self.sample(rng)


class EvolutionStrategy(Strategy):
    """Regularized (ageing) evolution; see the module docstring."""

    name = "evolution"

    def __init__(self, space, input_shape, head, *, population: int = 100,
                 tournament: int = 10, crossover_rate: float = 0.0, mutation: str = "small",
                 immigrant_rate: float = 0.0):
        super().__init__(space, input_shape, head)
        self.population, self.tournament = population, min(tournament, population)
        self.crossover_rate, self.small = crossover_rate, mutation == "small"
        self.immigrant_rate = immigrant_rate
        self._parsed: dict[str, Architecture] = {}

    def propose(self, history: History, rng: random.Random) -> Proposal:
        started = sum(1 for r in history.records if r.arch_id and r.consuming)
        alive = [r for r in history.records if r.score is not None and r.arch]
        if started < self.population or len(alive) < 2:
            return self.sample(rng)
        # drawn only when on, so that a search without immigrants keeps its proposals
        if self.immigrant_rate and rng.random() < self.immigrant_rate:
            return self.sample(rng)
        population = alive[-self.population:]  # ageing: the oldest die first
        parent = self._tournament(population, history.maximize, rng)
        if rng.random() < self.crossover_rate:
            other = self._tournament([r for r in population if r is not parent],
                                     history.maximize, rng)
            child = self.space.crossover(self._arch(parent), self._arch(other),
                                         self.input_shape, rng, self.head)
            return Proposal(child, "crossover", (parent.arch_id, other.arch_id))
        child, origin = self.mutant(self._arch(parent), rng, self.small)
        return Proposal(child, origin, (parent.arch_id,))

    def _tournament(self, population: list[TrialRecord], maximize: bool,
                    rng: random.Random) -> TrialRecord:
        """The fittest of ``tournament`` members drawn without replacement."""
        contestants = rng.sample(population, min(self.tournament, len(population)))
        return max(contestants, key=lambda r: fitness(r, maximize))

    def _arch(self, record: TrialRecord) -> Architecture:
        if record.arch not in self._parsed:
            self._parsed[record.arch] = self.space.parse(record.arch)
        return self._parsed[record.arch]

