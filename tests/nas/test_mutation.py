"""Small-step mutations: each kind makes one valid, parseable, buildable, small edit."""

from __future__ import annotations

import random

import pytest
import torch

from nas.architecture import Node
from nas.builder import build_model
from nas.heads import HeadSpec
from nas.mutation import (
    CONV_MACS_GROWTH,
    DEEPEN_MAX_NODES,
    KINDS,
    REMOVE_MAX_NODES,
    small_mutation,
)
from nas.space import load_space

HEAD = HeadSpec("classification", 3)
#: (grammar, input shape, parents): references and the CNN-like parents of issue 13
PARENTS = {
    "einspace": ((1, 8, 8), ["cnn", "resnet-block"]),
    "ffn": ((12,), ["mlp", "selu-mlp"]),
    "kan": ((2,), ["kan-2layer"]),
    "metamixer": ((1, 8, 8), ["metamixer"]),
}
CASES = [(g, name, kind) for g, (_, names) in PARENTS.items() for name in names
         for kind in KINDS]


def parent_of(grammar: str, name: str):
    space = load_space(grammar)
    return space, space.references()[name][0], PARENTS[grammar][0]


def edit_site(a: Node, b: Node) -> tuple[tuple[int, ...], Node, Node]:
    """The deepest place where two trees differ: both are equal outside the subtree
    there (descends while exactly one child differs and the rest match)."""
    path = ()
    while a.op == b.op and len(a.children) == len(b.children):
        differ = [i for i, (x, y) in enumerate(zip(a.children, b.children, strict=True))
                  if x != y]
        if len(differ) != 1 or not isinstance(a.children[differ[0]], Node):
            break
        i = differ[0]
        a, b, path = a.children[i], b.children[i], path + (i,)
    return path, a, b


def is_one_edit(kind: str, old: Node, new: Node) -> bool:
    """Whether ``new`` replaces ``old`` as an edit of ``kind`` does."""
    same_shape = old.op == new.op and len(old.children) == len(new.children)
    if kind == "leaf":  # one value of one leaf op
        return same_shape and not old.subnodes and sum(
            x != y for x, y in zip(old.children, new.children, strict=True)) == 1
    if kind == "swap":  # one leaf op for another
        return not old.subnodes and not new.subnodes and old.op != new.op
    if kind in ("insert", "add-norm", "add-activation"):  # sequential(old, op) or (op, old)
        return (len(new.children) == 2 and old in new.children
                and all(c == old or not c.subnodes for c in new.children))
    if kind == "remove":  # a small child of a sequential dropped, or a residual unwrapped
        return new in old.children and old.size() - new.size() <= REMOVE_MAX_NODES + 3
    if kind == "wrap-residual":
        return new.children == (Node("clone"), old, Node("identity"), Node("add"))
    if kind == "add-conv":  # sequential(routing(im2col(k,1,p), mixer + activation, fold), old)
        conv = new.children[0]
        return (new.op == "sequential" and new.children[1] == old and conv.op == "routing"
                and conv.children[0].op == "im2col" and conv.size() == 6)
    if kind == "deepen":  # sequential(old, old): a small module with weights repeated
        return (new.op == "sequential" and new.children == (old, old)
                and old.size() <= DEEPEN_MAX_NODES)
    return True  # subtree: checked apart (not the root)


@pytest.mark.parametrize("grammar, name, kind", CASES)
def test_each_kind_is_one_valid_small_edit(grammar, name, kind):
    space, parent, shape = parent_of(grammar, name)
    for seed in range(3):
        found = small_mutation(space, parent, shape, random.Random(seed), HEAD, kinds=(kind,))
        child = found.arch
        assert child != parent and space.parse(str(child)) == child
        space.check(child, shape, HEAD, enforce_limits=True)
        if found.kind != kind:  # this parent offers no such edit: the fallback says so
            assert found.kind == "subtree"
            continue
        path, old, new = edit_site(parent.root, child.root)
        assert is_one_edit(kind, old, new), f"{kind}: {old} -> {new}"
        if kind == "subtree":
            assert path != ()  # never the root


@pytest.mark.parametrize("grammar, name", [("einspace", "cnn"), ("ffn", "mlp")])
def test_children_build_and_train_a_step(grammar, name):
    space, parent, shape = parent_of(grammar, name)
    for kind in KINDS:
        child = small_mutation(space, parent, shape, random.Random(1), HEAD, (kind,)).arch
        model = build_model(child, space, shape, HEAD)
        model(torch.randn(2, *shape)).pow(2).mean().backward()
        typed = space.check(child, shape, HEAD)
        assert sum(p.numel() for p in model.parameters()) == typed.params


@pytest.mark.parametrize("grammar, name", [("einspace", "cnn"), ("ffn", "mlp"),
                                           ("metamixer", "metamixer")])
def test_the_same_seed_gives_the_same_child(grammar, name):
    space, parent, shape = parent_of(grammar, name)
    for seed in range(5):
        a = small_mutation(space, parent, shape, random.Random(seed), HEAD)
        b = small_mutation(space, parent, shape, random.Random(seed), HEAD)
        assert a == b
    kinds = {small_mutation(space, parent, shape, random.Random(s), HEAD).kind
             for s in range(40)}
    assert len(kinds) >= 3  # several kinds are drawn, not one


def test_every_kind_applies_somewhere():
    """Each kind has a parent among the references where it makes its own edit."""
    made = set()
    for grammar, name, kind in CASES:
        space, parent, shape = parent_of(grammar, name)
        if small_mutation(space, parent, shape, random.Random(0), HEAD, (kind,)).kind == kind:
            made.add(kind)
    assert made == set(KINDS)


def test_sampled_einspace_parents_mutate_validly():
    space, shape = load_space("einspace"), (1, 8, 8)
    for seed in range(8):
        parent = space.sample(shape, seed=seed, head=HEAD)
        child = small_mutation(space, parent, shape, random.Random(seed), HEAD).arch
        assert child != parent and space.parse(str(child)) == child
        space.check(child, shape, HEAD, enforce_limits=True)


def test_a_small_step_is_small_in_cost():
    """No child has more than MAX_MACS_GROWTH x its parent's MACs (+ slack): a swap of a
    linear layer for a family op of the same shape must not multiply them (issue 13)."""
    from nas.mutation import MACS_SLACK, MAX_MACS_GROWTH

    space, shape = load_space("einspace"), (1, 8, 8)
    parents = [space.references()[n][0] for n in ("cnn", "resnet-block")]
    parents += [space.sample(shape, seed=s, head=HEAD) for s in range(6)]
    for i, parent in enumerate(parents):
        macs = space.check(parent, shape).macs
        for kind in KINDS:
            growth = CONV_MACS_GROWTH if kind == "add-conv" else MAX_MACS_GROWTH
            found = small_mutation(space, parent, shape, random.Random(i), HEAD, (kind,))
            if found.kind == kind:  # the fallback (einspace's mutation) is not bounded
                assert space.check(found.arch, shape).macs <= macs * growth + MACS_SLACK, \
                    (kind, str(found.arch))


@pytest.mark.parametrize("name, shape, fold", [("mlp-patch", (1, 8, 8), "col2im"),
                                               ("attention", (40, 1), "identity")])
def test_add_conv_puts_a_narrow_convolution_before_a_module(name, shape, fold):
    """On an image the convolution keeps H x W (col2im folds it back); on a sequence it
    keeps the length. Its window spans more than one position, its width is narrow."""
    space = load_space("einspace")
    parent = space.references()[name][0]
    for seed in range(4):
        found = small_mutation(space, parent, shape, random.Random(seed), HEAD, ("add-conv",))
        assert found.kind == "add-conv"
        _, old, new = edit_site(parent.root, found.arch.root)
        conv = new.children[0]
        window, mixer, folded = conv.children
        assert int(window.args[0][0]) > 1 and window.args[0][1] == 1
        assert mixer.children[0].op == "linear" and mixer.children[0].args[0] in (16, 32)
        assert folded.op == fold
        typed = space.check(found.arch, shape, HEAD)
        conv_out = next(r.out for r in typed.records if r.node == conv)
        assert conv_out[1:] == shape[1:] if len(shape) == 3 else conv_out[0] == shape[0]


def test_add_conv_offers_nothing_on_vectors():
    space, parent, shape = parent_of("ffn", "mlp")
    assert small_mutation(space, parent, shape, random.Random(0), HEAD,
                          ("add-conv",)).kind == "subtree"


def test_deepen_repeats_a_block_with_weights():
    """On the two-convolution 1-D reference, ``deepen`` stacks a copy of a convolution
    block after itself (largest first, so not only a layer inside one); the child
    type-checks and has more weights than its parent."""
    space, shape = load_space("einspace"), (40, 1)
    parent = space.references()["cnn1d"][0]
    before = space.check(parent, shape, HEAD)
    repeated = set()
    for seed in range(6):
        found = small_mutation(space, parent, shape, random.Random(seed), HEAD, ("deepen",))
        assert found.kind == "deepen"
        _, old, new = edit_site(parent.root, found.arch.root)
        assert new.children == (old, old)
        repeated.add(old.op)
        after = space.check(found.arch, shape, HEAD)
        assert after.params > before.params
    assert "routing" in repeated  # a whole convolution block, not only its layer


def test_deepen_offers_nothing_without_weights():
    space, shape = load_space("einspace"), (1, 8, 8)
    parent = space.parse("routing(im2col(8,8,0), relu, identity)")
    assert small_mutation(space, parent, shape, random.Random(0), HEAD,
                          ("deepen",)).kind != "deepen"
