"""Sampling, parsing, mutation and crossover: laws that hold for every grammar."""

import dataclasses

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.builder import build_model
from nas.derive import Limits
from nas.errors import ArchitectureError, SamplingError
from nas.grammar import load_grammar
from nas.heads import HeadSpec
from nas.space import Space, load_space

CASES = {
    "einspace": [(1, 8, 8), (3, 32, 32), (16, 8)],
    "ffn": [(12,), (1, 8, 8)],
    "kan": [(2,), (5,)],
    "metamixer": [(1, 8, 8), (16, 8)],
    "versatileffn": [(12,), (16, 8)],
    "ptrnet": [(5, 1), (6, 2)],
}
PAIRS = [(g, s) for g, shapes in CASES.items() for s in shapes]


def _head(grammar: str, shape) -> HeadSpec:
    return HeadSpec("pointer", shape[0]) if grammar == "ptrnet" else HeadSpec("classification", 3)


def _build_run_count(space, arch, shape, head):
    typed = space.check(arch, shape, head, enforce_limits=True)
    model = build_model(arch, space, shape, head)
    x = torch.randn(2, *shape)
    y = model(x)
    expected = (2, head.n_outputs, head.n_outputs) if head.kind == "pointer" else (2, 3)
    assert tuple(y.shape) == expected, str(arch)
    y.float().pow(2).mean().backward()
    assert sum(p.numel() for p in model.parameters()) == typed.params, str(arch)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def _samples(grammar, shape, n):
    space = load_space(grammar)
    head = _head(grammar, shape)
    for i in range(n):
        yield space, space.sample(shape, seed=i, head=head), head


@pytest.mark.parametrize("grammar, shape", PAIRS)
def test_samples_build_run_backward_and_count_params(grammar, shape):
    for space, arch, head in _samples(grammar, shape, 25):
        _build_run_count(space, arch, shape, head)


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("grammar, shape", PAIRS)
def test_thousand_samples_per_grammar_and_shape(grammar, shape):
    for space, arch, head in _samples(grammar, shape, 1000):
        _build_run_count(space, arch, shape, head)


@pytest.mark.parametrize("grammar, shape", PAIRS)
def test_samples_respect_the_limits(grammar, shape):
    space = load_space(grammar)
    lim = space.limits
    for i in range(100):
        typed = space.check(space.sample(shape, seed=i), shape)
        assert typed.nodes <= lim.max_nodes and typed.depth <= lim.max_depth
        assert typed.params <= lim.max_params and typed.macs <= lim.max_macs


@pytest.mark.parametrize("grammar, shape", PAIRS)
def test_sample_typed_counts_what_check_counts(grammar, shape):
    """`nas sample` prints the type counted while sampling: it must equal check's."""
    space = load_space(grammar)
    for i in range(60):
        head = _head(grammar, shape) if i % 2 else None
        arch, typed = space.sample_typed(shape, seed=i, head=head)
        assert arch == space.sample(shape, seed=i, head=head)
        checked = space.check(arch, shape, head)
        assert (typed.output_shape, typed.params, typed.macs, typed.nodes, typed.depth) == (
            checked.output_shape, checked.params, checked.macs, checked.nodes, checked.depth)


def test_tight_limits_are_enforced_while_sampling():
    space = Space(load_grammar("einspace"), Limits(max_nodes=6, max_depth=3, max_params=5000))
    for i in range(200):
        typed = space.check(space.sample((1, 8, 8), seed=i), (1, 8, 8))
        assert typed.nodes <= 6 and typed.depth <= 3 and typed.params <= 5000


def test_bounded_branch_attempts_keep_samples_valid_and_small_branches():
    space = Space(load_grammar("einspace"), Limits(branch_expansions=3))
    for i in range(200):
        arch = space.sample((1, 8, 8), seed=i)
        typed = space.check(arch, (1, 8, 8), enforce_limits=True)
        for record in typed.records:  # a branch subtree never exceeds its attempt's bound
            if record.node.op.startswith("branch"):
                for branch in record.node.children[1:-1]:
                    assert branch.size() <= 3, str(arch)


def test_cache_trimming_does_not_change_what_a_seed_gives():
    small = Space(load_grammar("einspace"))
    small._leaves.MAX_ENTRIES = 50  # trimmed over and over while sampling
    fresh = [Space(load_grammar("einspace")).sample((3, 32, 32), seed=i) for i in range(40)]
    assert [small.sample((3, 32, 32), seed=i) for i in range(40)] == fresh


def test_clearing_the_caches_does_not_change_what_a_seed_gives():
    space = Space(load_grammar("einspace"))
    first = [space.sample((3, 32, 32), seed=i) for i in range(30)]
    assert space._leaves._rows  # sampling filled the caches
    space.clear_caches()
    assert not space._leaves._rows and not space._leaves.mergeable
    assert [space.sample((3, 32, 32), seed=i) for i in range(30)] == first


def test_an_impossible_request_raises_sampling_error():
    space = load_space("ptrnet")
    with pytest.raises(SamplingError, match="no valid architecture"):
        space.sample((1, 8, 8), seed=0, head=HeadSpec("pointer", 1))


def test_einspace_can_produce_pointer_scores():
    space = load_space("einspace")
    head = HeadSpec("pointer", 5)
    arch = space.sample((5, 1), seed=0, head=head)
    assert space.check(arch, (5, 1), head).output_shape == (5, 5)


def test_p_computation_matches_the_grammar():
    """Below the limits, M -> C is taken with probability 0.32 when C is valid."""
    space = Space(load_grammar("einspace"), Limits(max_nodes=400, max_depth=40))
    import random

    from nas.derive import Deriver

    picks = []
    deriver = Deriver(space.grammar, space.limits, space._leaves, random.Random(0))
    original = deriver._pick

    def spy(rule, alts):
        choice = original(rule, alts)
        if rule == "module" and len(alts) == 4:
            picks.append(choice)
        return choice

    deriver._pick = spy
    for _ in range(150):
        deriver.budget = type(deriver.budget)()
        deriver.sample("start", (16,))
    share = picks.count("computation") / len(picks)
    assert len(picks) > 1000 and abs(share - 0.32) < 0.04


# --- properties ------------------------------------------------------------------------

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
pairs = st.sampled_from(PAIRS)
seeds = st.integers(min_value=0, max_value=10**6)


@SETTINGS
@given(pair=pairs, seed=seeds)
def test_parse_of_str_is_identity(pair, seed):
    grammar, shape = pair
    space = load_space(grammar)
    arch = space.sample(shape, seed=seed, head=_head(grammar, shape))
    again = space.parse(str(arch))
    assert again == arch and str(again) == str(arch) and again.id == arch.id


@SETTINGS
@given(pair=pairs, seed=seeds)
def test_same_seed_same_architecture(pair, seed):
    grammar, shape = pair
    a = load_space(grammar).sample(shape, seed=seed)
    b = Space(load_grammar(grammar)).sample(shape, seed=seed)  # a fresh space, cold caches
    assert a == b and a.id == b.id


@SETTINGS
@given(pair=pairs, seed=seeds)
def test_mutation_gives_a_different_valid_architecture(pair, seed):
    grammar, shape = pair
    space = load_space(grammar)
    head = _head(grammar, shape)
    parent = space.sample(shape, seed=seed, head=head)
    child = space.mutate(parent, shape, seed=seed, head=head)
    assert child != parent
    space.check(child, shape, head, enforce_limits=True)
    assert child == space.mutate(parent, shape, seed=seed, head=head)  # deterministic


@SETTINGS
@given(pair=pairs, seed=seeds)
def test_crossover_gives_a_valid_architecture(pair, seed):
    grammar, shape = pair
    space = load_space(grammar)
    head = _head(grammar, shape)
    a = space.sample(shape, seed=seed, head=head)
    b = space.sample(shape, seed=seed + 1, head=head)
    child = space.crossover(a, b, shape, seed=seed, head=head)
    space.check(child, shape, head, enforce_limits=True)


def test_crossover_takes_a_subtree_of_the_other_parent():
    space = load_space("einspace")
    a = space.parse("sequential(routing(im2col(1,1,0), linear(32), col2im), relu)")
    b = space.parse("sequential(routing(im2col(3,1,1), linear(32), col2im), gelu)")
    children = {str(space.crossover(a, b, (1, 8, 8), seed=s)) for s in range(20)}
    assert {"sequential(routing(im2col(1,1,0), linear(32), col2im), gelu)",
            "sequential(routing(im2col(3,1,1), linear(32), col2im), relu)"} <= children
    assert str(a) not in children


@pytest.mark.parametrize("grammar", list(CASES))
def test_references_parse_build_and_run(grammar):
    space = load_space(grammar)
    refs = space.references()
    assert refs
    for arch, shape in refs.values():
        _build_run_count(space, arch, shape, _head(grammar, shape))


def test_check_rejects_an_op_from_outside_the_grammar():
    space = load_space("kan")
    with pytest.raises(ArchitectureError):
        space.parse("sequential(linear(16), kan(8, 5, 3, bspline))")


def test_a_higher_stop_probability_samples_smaller_networks_of_the_same_space():
    space = load_space("einspace")
    small = space.with_stop_probability(0.7)
    assert space.with_stop_probability(None) is space
    assert space.with_stop_probability(0.1) is space  # never lowered
    assert small.grammar.probs == {"module": {"computation": 0.7}}
    assert space.grammar.probs == {"module": {"computation": 0.32}}  # untouched
    mean = {}
    for name, s in (("grammar", space), ("small", small)):
        archs = [s.sample((1, 8, 8), seed) for seed in range(300)]
        mean[name] = sum(a.nodes for a in archs) / len(archs)
        for arch in archs[:20]:  # the same language: each parses and checks in the other
            other = space if s is small else small
            other.check(other.parse(str(arch)), (1, 8, 8))
    assert mean["small"] < 0.75 * mean["grammar"]


def test_stop_probability_keeps_each_rule_a_distribution():
    grammar = load_grammar("einspace")
    space = Space(grammar)
    grammar_two = dataclasses.replace(grammar, probs={"aggregation": {"add": 0.4, "mul": 0.4}})
    raised = Space(grammar_two).with_stop_probability(0.9)
    assert sum(raised.grammar.probs["aggregation"].values()) == pytest.approx(1.0)
    assert space.with_stop_probability(0.5).hash != space.hash  # sampling differs
