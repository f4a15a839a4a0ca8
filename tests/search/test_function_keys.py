"""One evaluation per network: claims hold function keys (nas/canonical.py) as well as
arch ids, so another string of an evaluated or claimed network is skipped.

Deterministic interleavings on a real journal study in one process, then a race of real
worker processes whose architectures come in equivalent pairs.
"""

from __future__ import annotations

import pytest

from nas.canonical import function_key
from nas.search.claims import NothingToPropose, Proposer, claim
from nas.search.history import MAX_REQUEUES, REQUEUE
from nas.search.strategies import Proposal, Strategy
from nas.search.testing import FixedStrategy, run_protocol_race
from nas.space import load_space

SHAPE = (40, 1)
#: pairs of strings of one network each, then a network of its own
TEXTS = [
    "routing(identity, linear(32), identity)", "sequential(linear(32), identity)",
    "branch2(clone, linear(16), sequential(linear(16), relu), add)",
    "branch2(clone, sequential(linear(16), relu), linear(16), add)",
    "sequential(linear(64), relu)", "routing(identity, sequential(linear(64), relu), identity)",
    "sequential(linear(16), tanh)",
]


@pytest.fixture(scope="module")
def einspace():
    return load_space("einspace")


@pytest.fixture(scope="module")
def nets(einspace):
    return [einspace.parse(text) for text in TEXTS]


class Blind(Strategy):
    """Proposes a random one of ``archs``, whatever the history holds: only the
    proposer's check can skip a held one."""

    name = "blind"

    def __init__(self, space, archs):
        super().__init__(space, SHAPE, None)
        self.archs = archs

    def propose(self, history, rng) -> Proposal:
        return Proposal(rng.choice(self.archs), "blind")


def evaluate(study, proposer, value=0.5):
    """Claim a new trial with ``proposer`` and complete it; returns the proposal."""
    t, n = study.create_trial()
    proposal, _ = claim(study, study.history(), t, n, proposer, pause_s=0.0)
    study.finish(t, "COMPLETE", value)
    return proposal


def test_the_claim_records_the_function_key(study, einspace, nets):
    proposer = Proposer(FixedStrategy(einspace, nets, SHAPE))
    t, n = study.create_trial()
    proposal, history = claim(study, study.history(), t, n, proposer)
    assert proposal.arch == nets[0]
    assert history.get(t).function_key == function_key(einspace, nets[0], SHAPE)
    assert history.get(t).keys == (nets[0].id, history.get(t).function_key)


def test_another_string_of_an_evaluated_network_is_skipped(study, einspace, nets):
    first = evaluate(study, Proposer(FixedStrategy(einspace, nets[:1], SHAPE)))
    # a strategy that offers the equivalent string as often as a new network
    proposer = Proposer(Blind(einspace, [nets[1], nets[6]]))
    second = evaluate(study, proposer)
    assert first.arch == nets[0] and second.arch == nets[6]
    t, n = study.create_trial()  # and then nothing is left
    with pytest.raises(NothingToPropose):
        proposer.propose(study.history(), t, n, 0)
    history = study.history()
    assert history.holds(nets[1].id, function_key=function_key(einspace, nets[1], SHAPE))
    assert not history.holds(nets[1].id)  # by its id alone it is new: the key holds it


def test_without_function_keys_the_equivalent_string_is_evaluated_again(study, einspace,
                                                                        nets):
    # the behaviour before function keys, which nas perf dedup measures as its baseline
    evaluate(study, Proposer(FixedStrategy(einspace, nets[:1], SHAPE), function_keys=False))
    again = evaluate(study, Proposer(FixedStrategy(einspace, nets[1:2], SHAPE),
                                     function_keys=False))
    assert again.arch == nets[1]


def test_a_strategy_that_only_offers_held_networks_has_nothing_to_propose(study, einspace,
                                                                          nets):
    evaluate(study, Proposer(FixedStrategy(einspace, nets[:1], SHAPE)))
    t, n = study.create_trial()
    with pytest.raises(NothingToPropose, match="exhausted"):
        claim(study, study.history(), t, n, Proposer(FixedStrategy(einspace, nets[1:2], SHAPE)))


def test_two_running_claims_of_one_network_see_each_other(study, einspace, nets):
    """Interleaving write A, write A' (same network), read both: both back off."""
    keys = [function_key(einspace, arch, SHAPE) for arch in nets[:2]]
    trials = []
    for arch, key in zip(nets[:2], keys, strict=True):
        t, _ = study.create_trial()
        study.set_user_attrs(t, {"arch": str(arch), "arch_id": arch.id, "function_key": key})
        trials.append(t)
    history = study.history()
    assert [r.trial_id for r in history.rivals(trials[1], nets[1].id, keys[1])] == [trials[0]]
    assert [r.trial_id for r in history.rivals(trials[0], nets[0].id, keys[0])] == [trials[1]]


def test_a_study_without_function_keys_still_loads_and_dedupes_by_id(study, einspace, nets):
    # a trial as written before function keys: arch and arch_id only
    t, _ = study.create_trial()
    study.set_user_attrs(t, {"arch": str(nets[0]), "arch_id": nets[0].id})
    study.finish(t, "COMPLETE", 0.7)
    history = study.history()
    old = history.get(t)
    assert old.function_key is None and old.keys == (nets[0].id,)
    assert history.claimed_ids() == {nets[0].id}
    key = function_key(einspace, nets[0], SHAPE)
    assert history.holds(nets[0].id, function_key=key)  # the same string: held by its id
    proposal = evaluate(study, Proposer(FixedStrategy(einspace, nets[:2], SHAPE)))
    assert proposal.arch == nets[1]  # the old trial's network is not known to be held


def test_a_network_requeued_too_often_is_given_up_under_any_string(study, einspace, nets):
    key = function_key(einspace, nets[0], SHAPE)
    for _ in range(MAX_REQUEUES):
        t, _ = study.create_trial()
        study.set_user_attrs(t, {"arch": str(nets[0]), "arch_id": nets[0].id,
                                 "function_key": key})
        study.set_system_attrs(t, {REQUEUE: True})
        study.finish(t, "FAIL")
    history = study.history()
    assert history.requeued() == []
    assert history.holds(nets[1].id, function_key=function_key(einspace, nets[1], SHAPE))


def test_requeue_runs_one_string_of_a_network_once(study, einspace, nets):
    for arch in nets[:2]:  # two strings of one network, both interrupted
        t, _ = study.create_trial()
        study.set_user_attrs(t, {"arch": str(arch), "arch_id": arch.id,
                                 "function_key": function_key(einspace, arch, SHAPE)})
        study.set_system_attrs(t, {REQUEUE: True})
        study.finish(t, "FAIL")
    assert [r.arch_id for r in study.history().requeued()] == [nets[0].id]


@pytest.mark.slow
def test_racing_workers_evaluate_each_network_once(journal):
    history, reports = run_protocol_race(journal, "race", "einspace", TEXTS, budget=4,
                                         workers=3, input_shape=SHAPE)
    keys = [r.function_key for r in history.evaluated]
    assert len(keys) == 4 and None not in keys
    assert len(set(keys)) == 4  # the 4 distinct networks, each once
    assert sum(r.completed for r in reports) == 4
