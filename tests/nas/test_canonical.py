"""Function keys (nas/canonical.py): every rewrite keeps the network's function.

Each pair below gets one key; both are built in torch and give the same outputs on
random inputs (same seed, or the same weights moved to the branch that holds them).
Pairs that differ in function get different keys.
"""

from __future__ import annotations

import pytest
import torch

from nas.builder import build_model
from nas.canonical import KEY_PREFIX, function_form, function_key
from nas.space import load_space

SEQ = (40, 1)  # S x D, as MNIST-1D
IMG = (1, 8, 8)

#: (input shape, a, b, branch swap): a and b are the same function; with a swap, b's
#: branches 0 and 1 (of its root branching) hold a's branches 1 and 0
SAME = {
    "sequential-identity": (SEQ, "sequential(linear(32), identity)",
                            "routing(identity, linear(32), identity)", False),
    "routing-identity": (SEQ, "routing(identity, sequential(linear(32), relu), identity)",
                         "sequential(linear(32), relu)", False),
    "nested-sequential": (SEQ, "sequential(sequential(linear(32), relu), linear(16))",
                          "sequential(linear(32), sequential(relu, linear(16)))", False),
    "inverse-permutes": (SEQ, "routing(permute(2,1), routing(permute(2,1), linear(32), "
                              "identity), identity)",
                         "routing(identity, linear(32), identity)", False),
    "composed-permutes": (IMG, "sequential(routing(permute(2,3,1), identity, permute(2,3,1)), "
                               "norm)",
                          "sequential(routing(permute(3,1,2), identity, identity), norm)", False),
    "activations-through-permutes": (SEQ, "routing(permute(2,1), sequential(relu, tanh), "
                                          "permute(2,1))",
                                     "sequential(relu, tanh)", False),
    "activation-behind-a-permute": (SEQ, "sequential(routing(permute(2,1), gelu, identity), "
                                         "linear(16))",
                                    "sequential(routing(identity, gelu, permute(2,1)), "
                                    "linear(16))", False),
    "relu-relu": (SEQ, "sequential(linear(32), sequential(relu, relu))",
                  "sequential(linear(32), relu)", False),
    "group-concat": (SEQ, "sequential(branch2(group(1), identity, identity, concat(1)), "
                          "linear(32))",
                     "routing(identity, linear(32), identity)", False),
    "add-order": (SEQ, "branch2(clone, linear(32), sequential(linear(32), tanh), add)",
                  "branch2(clone, sequential(linear(32), tanh), linear(32), add)", True),
    "mul-order": (SEQ, "branch2(clone, linear(16), sequential(linear(16), silu), mul)",
                  "branch2(clone, sequential(linear(16), silu), linear(16), mul)", True),
    "add-nesting": (SEQ, "branch2(clone, branch2(clone, linear(16), linear(16), add), "
                         "linear(16), add)",
                    "branch2(clone, linear(16), branch2(clone, linear(16), linear(16), add), "
                    "add)", False),
    "kan-order-of-a-wavelet": (SEQ, "sequential(kan(16, 5, 3, wavelet), linear(16))",
                               "sequential(kan(16, 5, 2, wavelet), linear(16))", False),
    "kan-order-of-an-rbf": (SEQ, "sequential(kan(16, 5, 2, rbf), relu)",
                            "sequential(kan(16, 5, 3, rbf), relu)", False),
    "no-op-inside-a-branch": (SEQ, "branch2(clone, sequential(identity, linear(16)), "
                                     "linear(16), concat(2))",
                                "branch2(clone, linear(16), routing(identity, linear(16), "
                                "identity), concat(2))", False),
}

#: (input shape, a, b): different functions
DIFFERENT = {
    "width": (SEQ, "routing(identity, linear(32), identity)",
              "routing(identity, linear(16), identity)"),
    "concat-order": (SEQ, "branch2(clone, linear(16), sequential(linear(16), relu), "
                          "concat(2))",
                     "branch2(clone, sequential(linear(16), relu), linear(16), concat(2))"),
    "group-add-order": (SEQ, "branch2(group(1), linear(16), sequential(linear(16), relu), add)",
                        "branch2(group(1), sequential(linear(16), relu), linear(16), add)"),
    "dot-order": (SEQ, "branch2(clone, linear(16), sequential(linear(16), relu), dot)",
                  "branch2(clone, sequential(linear(16), relu), linear(16), dot)"),
    "softmax-through-a-permute": (IMG, "routing(permute(1,3,2), softmax, permute(1,3,2))",
                                  "routing(identity, softmax, identity)"),
    "activation-order": (SEQ, "sequential(relu, tanh)", "sequential(tanh, relu)"),
    "kan-order-of-a-bspline": (SEQ, "sequential(kan(16, 5, 3, bspline), relu)",
                               "sequential(kan(16, 5, 2, bspline), relu)"),
    "leakyrelu-twice": (SEQ, "sequential(leakyrelu, leakyrelu)",
                        "routing(identity, leakyrelu, identity)"),
    "alphadropout": (SEQ, "sequential(linear(16), alphadropout)",
                     "routing(identity, linear(16), identity)"),
    "group-concat-other-dim": (SEQ, "sequential(branch2(group(1), identity, identity, "
                                    "concat(2)), linear(32))",
                               "routing(identity, linear(32), identity)"),
    "add-over-group-vs-clone": (SEQ, "branch2(group(1), identity, identity, add)",
                                "branch2(clone, identity, identity, add)"),
}


@pytest.fixture(scope="module")
def space():
    return load_space("einspace")


def _outputs(space, text: str, shape, x: torch.Tensor, swap: bool = False,
             weights: dict | None = None) -> tuple[torch.Tensor, dict]:
    torch.manual_seed(0)
    model = build_model(space.parse(text), space, shape).eval()
    if weights is not None:
        model.load_state_dict(_swapped(weights) if swap else weights)
    with torch.no_grad():
        return model(x), model.state_dict()


def _swapped(weights: dict) -> dict:
    """``weights`` with the root branching's branches 0 and 1 exchanged."""
    names = {"backbone.branches.0.": "backbone.branches.1.",
             "backbone.branches.1.": "backbone.branches.0."}
    out = {}
    for key, value in weights.items():
        for old, new in names.items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


@pytest.mark.parametrize("name", SAME)
def test_rewrite_keeps_the_function(space, name):
    shape, a, b, swap = SAME[name]
    assert function_key(space, space.parse(a), shape) == \
        function_key(space, space.parse(b), shape), function_form(space, space.parse(a), shape)
    x = torch.randn(4, *shape)
    out_a, weights = _outputs(space, a, shape, x)
    out_b, _ = _outputs(space, b, shape, x, swap, weights if swap else None)
    torch.testing.assert_close(out_a, out_b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", DIFFERENT)
def test_different_functions_get_different_keys(space, name):
    shape, a, b = DIFFERENT[name]
    assert function_key(space, space.parse(a), shape) != function_key(space, space.parse(b), shape)


def test_flatten_of_a_vector_is_a_no_op(space):
    # the ffn grammar always flattens first: on a vector that is the identity, and the
    # network is einspace's same layers
    ffn, shape = load_space("ffn"), (13,)
    a = ffn.parse("sequential(flatten, sequential(linear(32), relu))")
    b = space.parse("sequential(linear(32), relu)")
    assert function_key(ffn, a, shape) == function_key(space, b, shape)
    assert "flatten" in function_form(ffn, a, IMG)  # not a no-op on an image
    x = torch.randn(4, *shape)
    torch.manual_seed(0)
    out_a = build_model(a, ffn, shape).eval()(x)
    torch.manual_seed(0)
    torch.testing.assert_close(out_a, build_model(b, space, shape).eval()(x))


def test_the_swapped_pairs_really_differ_without_moving_the_weights(space):
    # the branch-order pairs are not equal by accident of the seed
    shape, a, b, _ = SAME["add-order"]
    x = torch.randn(4, *shape)
    assert not torch.allclose(_outputs(space, a, shape, x)[0], _outputs(space, b, shape, x)[0])


def test_wrapping_any_sample_in_no_ops_keeps_its_key(space, seed):
    for shape in (SEQ, IMG):
        arch = space.sample(shape, seed)
        key = function_key(space, arch, shape)
        assert key.startswith(KEY_PREFIX)
        for text in (f"sequential({arch}, identity)", f"routing(identity, {arch}, identity)",
                     f"sequential(identity, routing(identity, {arch}, identity))"):
            assert function_key(space, space.parse(text), shape) == key, text


def test_the_key_depends_on_the_input_shape(space):
    arch = space.parse("routing(identity, linear(32), identity)")
    assert function_key(space, arch, (40, 1)) != function_key(space, arch, (20, 1))


def test_the_form_is_readable(space):
    arch = space.parse("routing(im2col(3,1,1), sequential(linear(32), identity), col2im)")
    assert function_form(space, arch, IMG) == "1x8x8 | im2col(3,1,1) ; linear(32) ; col2im@32x8x8"
