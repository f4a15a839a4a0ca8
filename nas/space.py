"""The search space: a grammar plus limits, with sampling, checking, mutation, crossover."""

from __future__ import annotations

import dataclasses
import random
from functools import lru_cache
from pathlib import Path

from nas.architecture import Architecture, Node
from nas.derive import ROLE_KINDS, Deriver, LeafTable, Limits, NodeInfo, TypedArchitecture
from nas.errors import ArchitectureError, GrammarError, NasError, SamplingError
from nas.grammar import Grammar, list_builtin, load_grammar
from nas.heads import HeadSpec, head_accepts, head_macs, head_params
from nas.ops.registry import Shape, get_op

#: attempts at a whole architecture before giving up (e.g. when a head rejects outputs)
MAX_ATTEMPTS = 200


class Space:
    """A search space read from a grammar.

    Args:
        grammar: a loaded :class:`~nas.grammar.Grammar`.
        limits: bounds enforced while sampling.
    """

    def __init__(self, grammar: Grammar, limits: Limits | None = None):
        self.grammar = grammar
        self.limits = limits or Limits()
        self._leaves = LeafTable(grammar, self.limits)
        _check_roles(grammar)

    @property
    def name(self) -> str:
        return self.grammar.name

    @property
    def hash(self) -> str:
        return self.grammar.hash

    def __repr__(self) -> str:
        return f"Space({self.name!r}, hash={self.hash})"

    # --- sampling -------------------------------------------------------------------

    def with_stop_probability(self, probability: float | None) -> Space:
        """This space with its sampler's pinned probabilities raised to ``probability``.

        The grammar's ``//@ p(RULE -> ALT) = P`` directives pin one alternative of a
        recursive rule; in the built-in grammars it is the one that stops the recursion
        (a leaf module, the last layer). Each pinned P becomes ``max(P, probability)``,
        so samples and resampled subtrees are smaller and cheaper, and a search starts
        from small networks that its mutations grow (docs/search.md, "Start small").
        Rules, parsing, checking and costs are unchanged; only sampling differs. The
        space itself is returned when nothing would change (``probability`` None, or no
        directive below it).
        """
        if probability is None:
            return self
        probs = {rule: {alt: max(p, probability) for alt, p in table.items()}
                 for rule, table in self.grammar.probs.items()}
        if probs == self.grammar.probs:
            return self
        # a sum above 1 would be refused by the grammar loader: scale each rule back to 1
        probs = {rule: _at_most_one(table) for rule, table in probs.items()}
        return Space(dataclasses.replace(self.grammar, probs=probs), self.limits)


    def sample(self, input_shape: Shape, seed: int | random.Random = 0,
               head: HeadSpec | None = None) -> Architecture:
        """A random valid architecture for ``input_shape`` (and ``head``, if given).

        The same seed gives the same architecture. Raises SamplingError when the grammar
        cannot produce an architecture within the limits for this shape and head.
        """
        return self.sample_typed(input_shape, seed, head)[0]

    def sample_typed(self, input_shape: Shape, seed: int | random.Random = 0,
                     head: HeadSpec | None = None) -> tuple[Architecture, TypedArchitecture]:
        """:meth:`sample` with the architecture's type: what :meth:`check` would return
        for it (head included), counted while sampling instead of by a second walk of
        the tree, but without the per-node ``records`` (empty here)."""
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        shape = tuple(input_shape)
        self._leaves.trim()
        for _ in range(MAX_ATTEMPTS):
            deriver = Deriver(self.grammar, self.limits, self._leaves, rng)
            result = deriver.sample("start", shape)
            if result is None:
                continue
            root, out = result
            params, macs = deriver.budget.params, deriver.budget.macs
            if self._head_fits(head, out, params, macs):
                arch = self.grammar.architecture(root)
                if head is not None:
                    params += head_params(head, out)
                    macs += head_macs(head, out)
                return arch, TypedArchitecture(out, params, macs, deriver.budget.nodes,
                                               arch.depth, [])
        raise SamplingError(self._cannot_sample(shape, head))

    def clear_caches(self) -> None:
        """Drop what sampling has cached (it grows to some 10^5 objects over thousands of
        samples; later samples are the same, only slower until the caches refill)."""
        self._leaves.clear()

    def _head_fits(self, head: HeadSpec | None, out, params: int, macs: int) -> bool:
        """Whether ``head`` takes ``out`` and the whole model stays within the limits
        (as :meth:`check` counts it, head included)."""
        if head is None:
            return True
        return (head_accepts(head, out)
                and params + head_params(head, out) <= self.limits.max_params
                and macs + head_macs(head, out) <= self.limits.max_macs)

    def _cannot_sample(self, shape: Shape, head: HeadSpec | None) -> str:
        what = f" with a {head.kind} head of {head.n_outputs}" if head else ""
        return (f"grammar {self.name!r} produced no valid architecture for input "
                f"{'x'.join(map(str, shape))}{what} within the limits {self.limits}; "
                f"check the input shape, or raise the limits")

    # --- strings and checking -------------------------------------------------------

    def parse(self, text: str) -> Architecture:
        """Parse an architecture string of this grammar (ArchitectureError with a caret)."""
        return self.grammar.parse(text)

    def check(self, arch: Architecture, input_shape: Shape, head: HeadSpec | None = None,
              enforce_limits: bool = False) -> TypedArchitecture:
        """Type-check ``arch`` on ``input_shape``: output shape, params, MACs, records.

        ``params`` and ``macs`` include the head's when ``head`` is given; both then equal
        what the store counts from the exported graph (docs/export_store.md).
        Raises ArchitectureError naming the first op that rejects its input, a head
        that cannot use the output, or (with ``enforce_limits``) a limit exceeded.
        """
        deriver = Deriver(self.grammar, self.limits, self._leaves)
        out = deriver.check(arch.root, "start", tuple(input_shape))
        records = deriver.records
        params, macs = sum(r.params for r in records), sum(r.macs for r in records)
        if head is not None:
            if not head_accepts(head, out):
                raise ArchitectureError(f"the {head.kind} head ({head.n_outputs}) cannot use "
                                        f"the backbone output {out}")
            params += head_params(head, out)
            macs += head_macs(head, out)
        typed = TypedArchitecture(out, params, macs, arch.nodes, arch.depth, records)
        if enforce_limits:
            self._enforce(typed)
        return typed

    def limits_exceeded(self, typed: TypedArchitecture) -> list[str]:
        """The sampling limits ``typed`` exceeds, as ``"nodes 601 > 48"`` (empty: none)."""
        lim = self.limits
        checks = [("nodes", typed.nodes, lim.max_nodes), ("depth", typed.depth, lim.max_depth),
                  ("params", typed.params, lim.max_params), ("macs", typed.macs, lim.max_macs)]
        return [f"{name} {value} > {bound}" for name, value, bound in checks if value > bound]

    def _enforce(self, typed: TypedArchitecture) -> None:
        exceeded = self.limits_exceeded(typed)
        if exceeded:
            name, value, _, bound = exceeded[0].split()
            raise ArchitectureError(f"{name} {value} exceeds the limit {bound}")

    # --- variation ------------------------------------------------------------------

    def mutate(self, arch: Architecture, input_shape: Shape, seed: int | random.Random = 0,
               head: HeadSpec | None = None) -> Architecture:
        """Resample one random subtree from its context, excluding its current choice.

        The rest of the tree is kept; shapes are re-inferred downstream and the result
        is valid for ``input_shape`` and ``head`` (a fresh sample if no mutant is found).
        """
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        typed = self.check(arch, input_shape)
        for _ in range(MAX_ATTEMPTS):
            site = rng.choice(typed.records)
            sub = self._resample_at(site, typed, rng)
            if sub is None or sub == site.node:
                continue
            child = self._accept(arch.root.replace(site.path, sub), input_shape, head)
            if child is not None:
                return child
        return self.sample(input_shape, rng, head)

    def _resample_at(self, site: NodeInfo, typed: TypedArchitecture,
                     rng: random.Random) -> Node | None:
        """A new subtree for ``site`` within what the rest of the tree leaves of the limits."""
        size = site.node.size()
        room = Limits(**{**self.limits.__dict__,
                         "max_nodes": self.limits.max_nodes - (typed.nodes - size)})
        deriver = Deriver(self.grammar, room, self._leaves, rng)
        deriver.budget.params = typed.params - _subtree_params(typed, site.path)
        result = deriver.sample(site.slot, site.x, site.ctx, site.depth)
        return None if result is None else result[0]

    def crossover(self, a: Architecture, b: Architecture, input_shape: Shape,
                  seed: int | random.Random = 0, head: HeadSpec | None = None) -> Architecture:
        """Swap a shape-compatible subtree of ``b`` into ``a``.

        Compatible: same input and output type, and ``b``'s op derivable where ``a``'s
        subtree was. Falls back to a mutation of ``a`` when no swap is valid.
        """
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        ta, tb = self.check(a, input_shape), self.check(b, input_shape)
        pairs = [(ra, rb) for ra in ta.records for rb in tb.records
                 if ra.x == rb.x and ra.out == rb.out and ra.ctx == rb.ctx
                 and rb.node != ra.node
                 and rb.node.op in self.grammar.derivable_ops.get(ra.slot, ())]
        rng.shuffle(pairs)
        for ra, rb in pairs[:MAX_ATTEMPTS]:
            child = self._accept(a.root.replace(ra.path, rb.node), input_shape, head)
            if child is not None and child != a:
                return child
        return self.mutate(a, input_shape, rng, head)

    def _accept(self, root: Node, input_shape: Shape, head: HeadSpec | None):
        arch = self.grammar.architecture(root)
        try:
            self.check(arch, input_shape, head, enforce_limits=True)
        except ArchitectureError:
            return None
        return arch

    # --- references -----------------------------------------------------------------

    def references(self) -> dict[str, tuple[Architecture, Shape]]:
        """The grammar's hand-written reference architectures with their input shapes."""
        return {name: (self.parse(text), shape)
                for name, (shape, text) in self.grammar.references.items()}


def _at_most_one(table: dict[str, float]) -> dict[str, float]:
    total = sum(table.values())
    return table if total <= 1.0 else {alt: p / total for alt, p in table.items()}


def _subtree_params(typed: TypedArchitecture, path: tuple[int, ...]) -> int:
    n = len(path)
    return sum(r.params for r in typed.records if r.path[:n] == path)


def _check_roles(grammar: Grammar) -> None:
    """Every structure slot must derive only ops of the kind its role needs."""
    for rule, node in grammar.nodes.items():
        kind = get_op(node.op).kind
        if kind == "sequential":
            roles = ["module"] * len(node.slots)
        elif kind == "branching":
            roles = ["branch"] + ["module"] * (len(node.slots) - 2) + ["aggregate"]
        elif kind == "routing":
            roles = ["pre", "module", "post"]
        else:
            continue
        if len(node.slots) != len(roles) or (kind != "sequential" and len(node.slots) < 3):
            raise GrammarError(f"{grammar.source}: structure {rule!r} has the wrong number "
                               f"of slots")
        for slot, role in zip(node.slots, roles, strict=True):
            bad = [op for op in grammar.derivable_ops[slot]
                   if get_op(op).kind not in ROLE_KINDS[role]]
            if bad:
                raise GrammarError(f"{grammar.source}: slot {slot!r} of {rule!r} is a {role} "
                                   f"position but can derive {', '.join(sorted(bad))}")


@lru_cache(maxsize=32)
def _load_cached(key: str) -> Space:
    return Space(load_grammar(key))


def load_space(name_or_path: str | Path, limits: Limits | None = None) -> Space:
    """A :class:`Space` from a built-in grammar name or a ``.lark`` path."""
    if limits is not None:
        return Space(load_grammar(name_or_path), limits)
    return _load_cached(str(name_or_path))


def list_grammars() -> list[str]:
    """Names of the built-in grammars."""
    return list_builtin()


def parse_shape(text: str) -> Shape:
    """The per-sample input shape of an ``--input-shape`` option, no batch axis:
    ``"1x28x28"`` -> ``(1, 28, 28)`` (C x H x W), ``"40x1"`` (S x D) or ``"13"`` (D);
    ``,`` may stand for ``x`` and spaces around numbers are ignored.

    Raises:
        NasError: not 1 to 3 positive integers.
    """
    try:
        shape = tuple(int(part) for part in text.lower().replace(",", "x").split("x"))
    except ValueError:
        shape = ()
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise NasError(f"bad input shape {text!r}: write C x H x W (1x28x28), S x D (40x1) "
                       f"or D (13), positive integers without the batch axis")
    return shape
