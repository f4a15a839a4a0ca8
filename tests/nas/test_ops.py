"""Every registered op: build, forward, backward, exact parameter count; family references."""

import math

import pytest
import torch
from torch import nn

from nas.grammar import load_grammar
from nas.ops import all_ops, get_op
from nas.ops.modules.families import PointerDecoder, VersatileFFN, bspline_basis
from nas.space import load_space

SHAPES = [(4, 8, 8), (10, 6), (12,)]
GRAMMARS = ["einspace", "ffn", "kan", "metamixer", "ptrnet", "versatileffn"]


def _leaf_rules():
    seen = {}
    for name in GRAMMARS:
        for rule in load_grammar(name).nodes.values():
            if rule.is_leaf and get_op(rule.op).kind in ("computation", "route"):
                seen.setdefault(rule.op, (name, rule))
    return sorted(seen.items())


LEAVES = _leaf_rules()


def test_every_registered_op_is_used_by_a_grammar():
    used = {r.op for name in GRAMMARS for r in load_grammar(name).nodes.values()}
    assert set(all_ops()) == used


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("op, where", LEAVES, ids=[op for op, _ in LEAVES])
def test_leaf_op_builds_runs_and_counts_params(op, where):
    grammar_name, rule = where
    space = load_space(grammar_name)
    tried = 0
    for shape in SHAPES:
        options = space._leaves.candidates(rule, shape, None)
        for cand in options[:: max(1, len(options) // 3)][:3]:
            args = tuple(v.value for v in cand.children)
            spec = get_op(op)
            module = spec.build(shape, args, None, cand.out)
            x = torch.randn(3, *shape, requires_grad=True)
            y = module(x)
            assert tuple(y.shape) == (3, *cand.out), (op, shape, args)
            y.float().pow(2).mean().backward()
            assert x.grad is not None and torch.isfinite(x.grad).all()
            assert _params(module) == cand.params == spec.params(shape, args, None)
            tried += 1
    if op != "col2im":  # col2im needs a routing context, tested with im2col below
        assert tried, f"{op} accepted none of {SHAPES}"


@pytest.mark.parametrize("shape, window", [((3, 8, 8), (3, 1, 1)), ((2, 9, 7), (3, 2, 1)),
                                           ((3, 8, 8), (4, 4, 0)), ((12, 5), (3, 1, 1))])
def test_im2col_matches_unfold_and_col2im_restores_the_grid(shape, window):
    k, s, p = window
    im2col, col2im = get_op("im2col"), get_op("col2im")
    out = im2col.infer(shape, (window,), None)
    module = im2col.build(shape, (window,), None, out)
    x = torch.randn(2, *shape)
    rows = module(x)
    assert tuple(rows.shape) == (2, *out)
    if len(shape) == 3:
        expected = torch.nn.functional.unfold(x, k, padding=p, stride=s).transpose(1, 2)
        torch.testing.assert_close(rows, expected)
        grid = col2im.infer(out, (), ("im2col", (window,), shape))
        back = col2im.build(out, (), ("im2col", (window,), shape), grid)(rows)
        assert tuple(back.shape) == (2, *grid)
        if window == (1, 1, 0):
            torch.testing.assert_close(back, x)
    else:
        padded = torch.nn.functional.pad(x, (0, 0, p, p))
        expected = padded.unfold(1, k, s).flatten(2)  # (B, S', D*k), channel-major
        torch.testing.assert_close(rows, expected)


def test_branch_and_aggregate_ops():
    x = torch.randn(2, 4, 6)
    parts = get_op("group").build((4, 6), (1,), 2, None)(x)  # dim 1 = first after batch
    assert [tuple(p.shape) for p in parts] == [(2, 2, 6), (2, 2, 6)]
    assert get_op("group").infer((4, 6), (1,), 2) == ((2, 6), (2, 6))
    assert get_op("group").infer((4, 6), (2,), 4) is None  # 6 is not divisible by 4
    cat = get_op("concat").build(((2, 6), (2, 6)), (1,), None, None)(parts)
    torch.testing.assert_close(cat, x)
    a, b = torch.randn(2, 5, 3), torch.randn(2, 7, 3)
    assert get_op("dot").infer(((5, 3), (7, 3)), (), None) == (5, 7)
    torch.testing.assert_close(get_op("dot").build(((5, 3), (7, 3)), (), None, None)([a, b]),
                               a @ b.transpose(1, 2))
    scaled = get_op("sdot").build(((5, 3), (7, 3)), (), None, None)([a, b])
    torch.testing.assert_close(scaled, a @ b.transpose(1, 2) / math.sqrt(3))
    c = torch.randn(2, 3, 4)
    assert get_op("matmul").infer(((5, 3), (3, 4)), (), None) == (5, 4)
    assert get_op("add").infer(((5, 3), (5, 4)), (), None) is None
    assert get_op("concat").infer(((5, 3), (5, 4)), (2,), None) == (5, 7)
    torch.testing.assert_close(get_op("matmul").build(None, (), None, None)([a, c]), a @ c)


# --- family references -------------------------------------------------------------------


def _cox_de_boor(i: int, p: int, u: float, knots: list[float]) -> float:
    if p == 0:
        return 1.0 if knots[i] <= u < knots[i + 1] else 0.0
    left = (u - knots[i]) / (knots[i + p] - knots[i]) * _cox_de_boor(i, p - 1, u, knots)
    right = ((knots[i + p + 1] - u) / (knots[i + p + 1] - knots[i + 1])
             * _cox_de_boor(i + 1, p - 1, u, knots))
    return left + right


@pytest.mark.parametrize("grid, order", [(5, 3), (10, 2), (3, 1)])
def test_kan_bspline_basis_matches_direct_cox_de_boor(grid, order, seed):
    h = 2.0 / grid
    knots = [-1.0 + (j - order) * h for j in range(grid + 2 * order + 1)]
    u = torch.rand(40, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1
    ours = bspline_basis(u, grid, order)
    assert ours.shape == (40, grid + order)
    for n, value in enumerate(u.tolist()):
        direct = [_cox_de_boor(i, order, value, knots) for i in range(grid + order)]
        torch.testing.assert_close(ours[n], torch.tensor(direct, dtype=torch.float64))
    torch.testing.assert_close(ours.sum(-1), torch.ones(40, dtype=torch.float64))  # unity


def _versatile_loop(m: VersatileFFN, x: torch.Tensor) -> torch.Tensor:
    """The reference inference path: a per-token, data-dependent loop."""
    out = []
    for token in x.reshape(-1, x.shape[-1]):
        logits = m.router(token)
        top, idx = logits.topk(m.topk)
        per_expert = m.fc1.out_features // m.experts
        mask = torch.zeros(m.fc1.out_features)
        for weight, e in zip(torch.softmax(top, -1), idx.tolist(), strict=True):
            mask[e * per_expert:(e + 1) * per_expert] = weight
        width = m.fc2(torch.nn.functional.gelu(m.fc1(token)) * mask)
        depth_logits = m.depth(token)
        depth, h = int(depth_logits.argmax()) + 1, token
        for _ in range(depth):
            h = h + m.ffn(h)
        levels = torch.arange(1, m.lmax + 1, dtype=token.dtype)
        expected = (torch.softmax(depth_logits, -1) * levels).sum()
        gate = (m.lmax - expected) / m.lmax
        out.append(gate * width + (1 - gate) * h)
    return torch.stack(out).reshape(x.shape)


@pytest.mark.parametrize("experts, topk, lmax", [(4, 2, 3), (8, 1, 4), (4, 4, 2)])
def test_versatile_ffn_static_path_equals_loop(experts, topk, lmax, seed):
    torch.manual_seed(seed)
    m = VersatileFFN(16, 32, experts, topk, lmax).eval()
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        torch.testing.assert_close(m(x), _versatile_loop(m, x), rtol=1e-5, atol=1e-5)


def test_pointer_decoder_never_repeats_an_index(seed):
    torch.manual_seed(seed)
    decoder = PointerDecoder(dim=8, hidden=16, items=7).eval()
    with torch.no_grad():
        scores = decoder(torch.randn(64, 7, 8))
    picks = scores.argmax(-1)
    assert scores.shape == (64, 7, 7)
    assert all(sorted(row.tolist()) == list(range(7)) for row in picks)


def test_selu_network_self_normalizes_at_init():
    torch.manual_seed(0)
    space = load_space("ffn")
    arch, shape = space.references()["selu-mlp"]
    from nas.builder import build_model

    model = build_model(arch, space, shape).eval()
    activations = []
    for module in model.modules():
        if isinstance(module, nn.SELU):
            module.register_forward_hook(lambda m, i, o: activations.append(o))
    with torch.no_grad():
        model(torch.randn(4096, *shape))
    assert len(activations) == 2
    for act in activations:
        assert abs(float(act.mean())) < 0.1
        assert abs(float(act.std()) - 1.0) < 0.15
