"""The protocol that keeps a shared study exact: one evaluation per architecture, and
never more evaluations than the budget, whatever the number of workers.

Both rules use the same pattern on the shared storage: **write, then read**. A worker
first creates its trial (RUNNING), already holding the claim of the architecture it
proposes, then reads the study:

* **Budget.** The trial may go on only if fewer than ``budget`` trials *numbered below
  it* count against the budget (evaluated or running). Trial numbers follow creation
  order in every Optuna storage, and a trial created earlier is visible to a read made
  after one's own creation, so of any ``budget + 1`` trials the last-numbered one always
  sees the others and steps back. A trial that steps back is *discarded* (FAIL with
  ``nas:discarded``; it spent nothing). A cheap check before creating a trial makes
  this a rare race at the very end of the budget.
* **Dedupe.** The worker writes the proposed ``arch_id`` and ``function_key`` to its
  trial (the first with its creation), then reads the study; if any *other* evaluated or
  running trial holds the same id or the same function key, it backs off and proposes
  again, in the same trial (after
  a short random pause, so two workers that back off from each other do not meet again
  in lockstep). For two trials that both keep a key, the one whose final write came
  second would have read the other's claim: so no architecture, and no network, is
  evaluated twice. (Both may back off; that only costs a re-proposal.)

The function key (:mod:`nas.canonical`) makes two strings of one network one
evaluation: ``sequential(M, identity)`` is not evaluated after ``M``. Trials of a study
written before keys existed hold their arch id only, so a study resumes unchanged.

Re-queued architectures (of stale or interrupted trials) are proposed before anything
new, then the grammar's references (``--seed-references``), then the strategy's.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Sequence

from nas.architecture import Architecture
from nas.canonical import function_key
from nas.errors import ArchitectureError, SamplingError
from nas.search.history import History
from nas.search.strategies import Proposal, Strategy

#: rounds of propose-write-read before a worker gives a trial up
MAX_CLAIM_ROUNDS = 20
#: proposals tried per round before concluding that nothing new is left
MAX_FRESH_TRIES = 50


class NothingToPropose(SamplingError):
    """No architecture that is not evaluated or claimed could be found."""


def proposal_rng(seed: int, number: int, attempt: int) -> random.Random:
    """The generator for proposal ``attempt`` of trial ``number``: the same study
    history and seed give the same proposals, whichever worker makes them."""
    return random.Random(f"nas-search/{seed}/{number}/{attempt}")


def has_room(history: History, budget: int) -> bool:
    """Whether a new trial could fit in the budget (the check before creating one)."""
    return history.consuming < budget


def within_budget(history: History, number: int, budget: int) -> bool:
    """Whether trial ``number`` (already created) is inside the budget."""
    return history.consuming_before(number) < budget


class Proposer:
    """Chooses what a trial evaluates: re-queued, then references, then the strategy.

    Args:
        strategy: proposes new architectures from the history.
        references: ``(name, arch)`` pairs to evaluate first (``--seed-references``).
        seed: the search seed (see :func:`proposal_rng`).
        function_keys: key claims by function too (:mod:`nas.canonical`); False keys
            them by arch id only, as before function keys (``nas perf dedup``'s baseline).
    """

    def __init__(self, strategy: Strategy, references: Sequence[tuple[str, Architecture]] = (),
                 seed: int = 0, function_keys: bool = True):
        self.strategy, self.references, self.seed = strategy, list(references), seed
        self.function_keys = function_keys
        self._keys: dict[str, str | None] = {}  # arch id -> function key (None: untypable)

    def propose(self, history: History, trial_id: int | None, number: int, attempt: int
                ) -> Proposal:
        """The next architecture for trial ``trial_id`` (None: a trial not created yet,
        to be numbered ``number``), with its ``function_key`` in its attrs (when known);
        raises NothingToPropose."""
        rng = proposal_rng(self.seed, number, attempt)
        queue = history.requeued(exclude_trial_id=trial_id)
        if queue:
            record = queue[0] if attempt == 0 else rng.choice(queue)
            return self.keyed(rerun_of(record, self.strategy.space.parse(record.arch)))
        for name, arch in self.references:
            proposal = self.keyed(Proposal(arch, f"reference:{name}"))
            if not held(history, proposal, trial_id):
                return proposal
        for _ in range(MAX_FRESH_TRIES):
            proposal = self.strategy.propose(history, rng)
            if history.holds(proposal.arch.id, trial_id):
                continue  # held by its string already: no need to type it for its key
            proposal = self.keyed(proposal)
            if not held(history, proposal, trial_id):
                return proposal
        raise NothingToPropose(
            f"{MAX_FRESH_TRIES} proposals in a row were already evaluated or claimed "
            f"({history.consuming} evaluations so far): the space looks exhausted for "
            "this task")


    def keyed(self, proposal: Proposal) -> Proposal:
        """``proposal`` with its architecture's function key in its attrs (unchanged when
        keys are off, or the strategy has no input shape to type the architecture on)."""
        shape = self.strategy.input_shape
        if not self.function_keys or not shape:
            return proposal
        key = self._function_key(proposal.arch, shape)
        if key is None:  # it cannot be typed here: its arch id stands alone
            return proposal
        return dataclasses.replace(proposal, attrs={**proposal.attrs, "function_key": key})

    #: function keys remembered per proposer (re-queues, references and the strategy's
    #: repeats come back; typing an architecture again costs as much as sampling it)
    KEYS_KEPT = 4096

    def _function_key(self, arch: Architecture, shape) -> str | None:
        if arch.id not in self._keys:
            if len(self._keys) >= self.KEYS_KEPT:
                self._keys.clear()
            try:
                self._keys[arch.id] = function_key(self.strategy.space, arch, shape)
            except ArchitectureError:
                self._keys[arch.id] = None
        return self._keys[arch.id]


def held(history: History, proposal: Proposal, trial_id: int | None = None) -> bool:
    """Whether ``proposal``'s architecture or network is held (:meth:`History.holds`)."""
    return history.holds(proposal.arch.id, trial_id, proposal.attrs.get("function_key"))


#: origin of a re-run whose interrupted trial recorded none (studies before origins)
REQUEUE_ORIGIN = "requeue"


def rerun_of(record, arch: Architecture) -> Proposal:
    """The re-run of an interrupted trial's ``record``: the same architecture, origin and
    parents (so it is judged in its own rung cohort and credited to the kind that made
    it), with ``requeued_from`` naming the interrupted trial."""
    attrs = record.user_attrs
    return Proposal(arch, attrs.get("origin") or REQUEUE_ORIGIN,
                    tuple(attrs.get("parents") or ()), {"requeued_from": record.number})


def claim_attrs(proposal: Proposal) -> dict:
    """The user_attrs that claim ``proposal``'s architecture, with how it was proposed
    (None values are not written)."""
    arch = proposal.arch
    return {"arch": str(arch), "arch_id": arch.id, "origin": proposal.origin,
            "parents": list(proposal.parents) or None, **proposal.attrs}


def _set_names(attrs: dict) -> set[str]:
    """The attributes a write of ``attrs`` sets (None values are not written)."""
    return {key for key, value in attrs.items() if value is not None}


def claim(study, history: History, trial_id: int, number: int, proposer: Proposer,
          pause_s: float = 0.2, written: Proposal | None = None
          ) -> tuple[Proposal, History]:
    """Claim an architecture for trial ``trial_id``; see the module docstring.

    ``written``: a proposal whose claim the trial was created with, ``history`` having
    been read after that creation; it is the first round's claim (no write).
    Returns the proposal and the history read after the winning claim.
    Raises NothingToPropose when no round succeeds.
    """
    attr_names = _set_names(claim_attrs(written)) if written else set()  # written so far
    for attempt in range(MAX_CLAIM_ROUNDS):
        if attempt == 0 and written is not None:
            proposal = written
        else:
            proposal = proposer.propose(history, trial_id, number, attempt)
            # the claim is one write; keys of an earlier attempt that this proposal
            # lacks are cleared
            attrs = claim_attrs(proposal)
            kept = _set_names(attrs)
            study.update(trial_id, attrs, clear=attr_names - kept)
            attr_names |= kept
            history = study.history()
        if not history.rivals(trial_id, proposal.arch.id, proposal.attrs.get("function_key")):
            return proposal, history
        time.sleep(random.uniform(0, pause_s * (attempt + 1)))  # break lockstep
    raise NothingToPropose(f"trial {number} lost the claim {MAX_CLAIM_ROUNDS} times in a "
                           "row to other workers")


def matching_references(space, input_shape, head) -> list[tuple[str, Architecture]]:
    """The grammar's references whose input shape is the task's and that fit its head."""
    found = []
    for name, (arch, shape) in space.references().items():
        if tuple(shape) != tuple(input_shape):
            continue
        try:
            space.check(arch, input_shape, head)
        except ArchitectureError:
            continue
        found.append((name, arch))
    return found
