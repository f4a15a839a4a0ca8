"""Function keys: one key for architecture strings that build the same network.

Different strings can be the same function: ``sequential(M, identity)`` is ``M``,
``routing(identity, M, identity)`` is ``M``, and ``branch2(clone, A, B, add)`` is
``branch2(clone, B, A, add)``. :func:`function_key` hashes a canonical form of an
architecture on an input shape, computed from its typed tree (no torch, no export: it
runs for every proposal), after rewrites that keep the function for all weights (up to
which module holds which weights, as for a branch order):

* **compositions are flat**: a sequential, and a routing ``(pre, M, post)``, which
  computes ``post(M(pre(x)))`` (:class:`~nas.ops.modules.structure.RoutingModule`), are
  chains of modules; nested chains are one chain (composition is associative);
* **no-ops leave the chain**: ``identity``, and a ``flatten`` of a vector
  (``nn.Flatten(1)`` of ``(B, D)``);
* **adjacent permutes compose** into one (dropped when the product is the identity),
  after elementwise activations move behind them (an activation commutes with a permute:
  ``permute(2,1) ; relu ; permute(2,1)`` is ``relu``), and ``relu`` after ``relu`` is
  one ``relu`` (idempotent);
* **commutative aggregations over clones**: ``add`` and ``mul`` of clone branches are a
  sum (product) of terms: the order of the branches is not kept, and a clone branching
  of the same aggregation inside a branch adds its terms to the outer ones
  (``branch2(clone, branch2(clone, A, B, add), C, add)`` is ``A + B + C``);
* **split and re-join**: ``group(d)`` with identity branches and ``concat(d)`` is the
  identity (``torch.cat(torch.chunk(x, k, d), d)`` is ``x``);
* **values an op ignores**: a KAN layer's order ``K`` shapes its B-spline basis only;
  with the ``rbf``, ``cheby`` and ``wavelet`` bases it is not read, so
  ``kan(64, 5, 2, wavelet)`` and ``kan(64, 5, 3, wavelet)`` are one network (``K`` is
  written ``_``).

Other ops are kept as written with their values; a ``col2im`` also records its grid,
which comes from its routing's pre-routing rather than from its own input. No aggregation
of this platform ignores one of its inputs (``add``, ``mul``, ``concat``, ``dot``,
``sdot``, ``matmul`` all read every branch), so a branch is dead only when it is a no-op
above; ``alphadropout`` is not a no-op (it is one only in eval mode). Each rewrite has a
test that builds both networks in torch and compares their outputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from nas.architecture import Architecture, Node
from nas.derive import NodeInfo
from nas.ops.registry import Shape, get_op

#: version of the rewrites: a key of another version never equals one of this version
KEY_VERSION = "f2"
#: prefix of every function key (arch ids are bare hex, so the two never collide)
KEY_PREFIX = KEY_VERSION + ":"

#: ops whose composition with themselves is themselves
_IDEMPOTENT = frozenset({"relu"})
#: elementwise ops without parameters or randomness: they commute with any permute
_ELEMENTWISE = frozenset({"relu", "leakyrelu", "gelu", "silu", "selu", "tanh"})
#: aggregations whose result does not depend on the order of their inputs
_COMMUTATIVE = frozenset({"add", "mul"})

Term = str  # one module of a canonical chain, as text


def function_key(space, arch: Architecture, input_shape: Shape) -> str:
    """The function key of ``arch`` on inputs ``(B, *input_shape)``: ``"f2:"`` and 16
    hex digits of sha256 of :func:`function_form`. Equal keys: the same network.

    Raises:
        ArchitectureError: ``arch`` does not type-check on ``input_shape``.
    """
    form = function_form(space, arch, input_shape)
    return KEY_PREFIX + hashlib.sha256(form.encode()).hexdigest()[:16]


def function_form(space, arch: Architecture, input_shape: Shape) -> str:
    """The canonical form behind :func:`function_key`, readable: the input shape, then
    the chain of modules, e.g. ``"1x8x8 | im2col(3,1,1) ; linear(32) ; relu"``."""
    typed = space.check(arch, tuple(input_shape))
    infos = {info.path: info for info in typed.records}
    chain = _Canon(infos).chain(arch.root, ())
    shape = "x".join(map(str, input_shape))
    return f"{shape} | {_show(chain)}"


def _show(chain: Sequence[Term]) -> str:
    return " ; ".join(chain) if chain else "identity"


class _Canon:
    """Canonical chains of the nodes of one typed tree (records by path)."""

    def __init__(self, infos: dict[tuple[int, ...], NodeInfo]):
        self.infos = infos

    def chain(self, node: Node, path: tuple[int, ...]) -> list[Term]:
        """The modules ``node`` applies, in order, after the rewrites (empty: identity)."""
        kind = get_op(node.op).kind
        if kind in ("sequential", "routing"):
            terms: list[Term] = []
            for i, child in enumerate(node.children):
                terms += self.chain(child, path + (i,))  # type: ignore[arg-type]
            return _simplify(terms)
        if kind == "branching":
            return self._branching(node, path)
        return self._leaf(node, self.infos[path])

    def _leaf(self, node: Node, info: NodeInfo) -> list[Term]:
        args = ", ".join(value.text for value in node.children)  # leaves hold values only
        if _is_noop(node, info):
            return []
        if node.op == "col2im":  # its grid comes from the routing's pre-routing
            return [f"col2im@{'x'.join(map(str, info.out))}"]
        if node.op == "kan" and node.children[3].text != "bspline":  # type: ignore[union-attr]
            width, grid, _, basis = (value.text for value in node.children)  # type: ignore[union-attr]
            args = f"{width}, {grid}, _, {basis}"  # the order is read by B-splines only
        return [f"{node.op}({args})" if args else node.op]

    def _branching(self, node: Node, path: tuple[int, ...]) -> list[Term]:
        split, *modules, merge = node.children
        k = len(modules)
        chains = [self.chain(m, path + (i + 1,)) for i, m in enumerate(modules)]
        split_term = self._leaf(split, self.infos[path + (0,)])[0]  # type: ignore[arg-type]
        merge_term = self._leaf(merge, self.infos[path + (k + 1,)])[0]  # type: ignore[arg-type]
        if (split.op == "group" and merge.op == "concat"  # type: ignore[union-attr]
                and split.children[0].text == merge.children[0].text  # type: ignore[union-attr]
                and not any(chains)):
            return []  # chunks along d, concatenated back along d, in order
        if split.op == "clone" and merge.op in _COMMUTATIVE:  # type: ignore[union-attr]
            return [_commutative(merge.op, chains)]  # type: ignore[union-attr]
        inner = " | ".join(_group(c) for c in chains)
        return [f"{split_term}[{inner}]{merge_term}"]


def _commutative(op: str, chains: list[list[Term]]) -> Term:
    """``op`` of the clone branches ``chains`` as a sorted multiset of terms; a branch
    that is itself a clone ``op`` adds its terms (``a + (b + c)`` is ``a + b + c``)."""
    head = f"{op}{{"
    terms: list[str] = []
    for chain in chains:
        if len(chain) == 1 and chain[0].startswith(head):
            terms += _split_terms(chain[0][len(head):-1])
        else:
            terms.append(_group(chain))
    return head + " | ".join(sorted(terms)) + "}"


def _group(chain: list[Term]) -> str:
    """One branch's chain as one bracketed term."""
    return f"({_show(chain)})"


def _split_terms(inner: str) -> list[str]:
    """The top-level ``" | "``-separated terms of a bracketed multiset body."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "|" and depth == 0:
            terms.append(inner[start:i].strip())
            start = i + 1
    terms.append(inner[start:].strip())
    return terms


def _is_noop(node: Node, info: NodeInfo) -> bool:
    """Whether a leaf is the identity on its input (see the module docstring)."""
    if node.op == "identity":
        return True
    return node.op == "flatten" and len(info.x) == 1


def _simplify(terms: list[Term]) -> list[Term]:
    """Move elementwise ops before permutes, compose adjacent permutes, merge repeated
    idempotent ops (left to right, on a stack)."""
    out: list[Term] = []
    for term in terms:
        _push(out, term)
    return out


def _push(out: list[Term], term: Term) -> None:
    if out and term in _ELEMENTWISE and _is_permute(out[-1]):
        permute = out.pop()  # f(P x) = P f(x) for an elementwise f
        _push(out, term)
        out.append(permute)
    elif out and term in _IDEMPOTENT and out[-1] == term:
        return
    elif out and _is_permute(term) and _is_permute(out[-1]):
        order = _compose(_order(out.pop()), _order(term))
        if order != tuple(range(1, len(order) + 1)):
            out.append(f"permute({','.join(map(str, order))})")
    else:
        out.append(term)


def _is_permute(term: Term) -> bool:
    return term.startswith("permute(")


def _order(term: Term) -> tuple[int, ...]:
    return tuple(int(part) for part in term[len("permute("):-1].split(","))


def _compose(first: tuple[int, ...], then: tuple[int, ...]) -> tuple[int, ...]:
    """The order of ``permute(then)`` applied after ``permute(first)``: output axis i of
    the second is its input axis ``then[i]``, which is axis ``first[then[i] - 1]``."""
    return tuple(first[i - 1] for i in then)
