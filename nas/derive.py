"""Shape-typed derivation: sampling new trees and type-checking given ones.

One engine does both. Sampling walks the grammar from a rule and an input shape,
offering only what is valid for that shape and within the limits; checking walks a given
tree the same way and reports the first op that does not accept its input. Both record
a :class:`NodeInfo` per node, which mutation and crossover use to find where a subtree
may be replaced.

Limits are enforced while sampling, never after the fact:

* nodes and depth, by reserving the smallest completion of every pending slot
  (``Grammar.min_size`` / ``min_depth``), so a derivation can always finish in bounds;
* parameters, MACs and activation size, by offering only leaf ops whose exact counts
  fit the remaining budget;
* sampling work, by abandoning a branch subtree once it has built ``branch_expansions``
  nodes (the branch then takes its single-op fallback), and by switching to the shortest
  completions once ``max_expansions`` nodes have been built, kept or discarded.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass, field
from itertools import accumulate, product
from math import prod
from typing import Any, NamedTuple

from nas.architecture import Node, Value
from nas.errors import ArchitectureError
from nas.grammar import Grammar, NodeRule
from nas.ops.registry import Shape, get_op

#: which op kinds each structure slot role accepts
ROLE_KINDS = {
    "module": {"computation", "sequential", "branching", "routing"},
    "pre": {"computation", "route"},
    "post": {"computation", "route"},
    "branch": {"branch"},
    "aggregate": {"aggregate"},
}


@dataclass(frozen=True)
class Limits:
    """Bounds enforced while sampling (and checked on mutants and offspring)."""

    max_depth: int = 10
    max_nodes: int = 48
    max_params: int = 1_000_000
    max_activation: int = 2**16  # elements of one sample's intermediate tensor
    max_macs: int = 20_000_000
    max_expansions: int = 400  # nodes built (kept or not) before forcing shortest completions
    retries: int = 3  # attempts at a structure before giving it up
    branch_retries: int = 1  # subtrees tried per branch before its single-op fallback
    branch_expansions: int = 48  # nodes one branch attempt may build before it is abandoned


@dataclass(frozen=True)
class NodeInfo:
    """A node as typed in context: where it sits, what it takes and gives, what it costs."""

    path: tuple[int, ...]
    slot: str  # the rule it was derived from
    node: Node
    x: Any  # input type: a shape, or a tuple of shapes for aggregations
    ctx: Any  # branch count, routing context, or None
    out: Any
    params: int
    macs: int
    depth: int


class Candidate(NamedTuple):
    """A leaf op with its values chosen, typed for one input (a named tuple: hundreds of
    thousands are made per thousand samples, and a frozen dataclass is slower to build)."""

    children: tuple[Value, ...]
    out: Any
    params: int
    macs: int


#: a not-yet-typed entry of a :meth:`LeafTable.row`
_UNTYPED: Any = object()


class _Abandoned(Exception):
    """A bounded branch attempt built more nodes than it was allowed."""


@dataclass
class _Budget:
    nodes: int = 0
    params: int = 0
    macs: int = 0
    reserved: int = 0
    expansions: int = 0

    def snapshot(self) -> tuple[int, int, int, int]:
        return self.nodes, self.params, self.macs, self.reserved

    def restore(self, snap: tuple[int, int, int, int]) -> None:
        self.nodes, self.params, self.macs, self.reserved = snap


class LeafTable:
    """Valid value choices of leaf ops per input type, computed once and cached."""

    def __init__(self, grammar: Grammar, limits: Limits):
        self.grammar, self.limits = grammar, limits
        self._cache: dict[tuple, tuple[Candidate, ...]] = {}
        self._combos: dict[str, list[tuple[tuple[Value, ...], tuple]]] = {}
        self._viable: dict[tuple, tuple[str, ...]] = {}
        self._peaks: dict[tuple, tuple[int, int]] = {}
        self.leaf_options: dict[tuple, tuple] = {}
        self.mergeable: dict[tuple, bool] = {}
        self.reachable: dict[tuple, frozenset] = {}
        self._takes: dict[tuple, bool] = {}
        self._slot_combos: dict[str, tuple] = {}
        self._reach: dict[tuple, tuple[int, int]] = {}
        self._rows: dict[tuple, list] = {}
        self._cum_weights: dict[tuple, list[float]] = {}
        #: rule name -> its op's spec (the registry lookup is on every hot path)
        self.spec = {name: get_op(rule.op) for name, rule in grammar.nodes.items()}
        for rule in grammar.nodes.values():
            if rule.is_leaf:
                self.combos(rule)

    def candidates(self, rule: NodeRule, x: Any, ctx: Any) -> tuple[Candidate, ...]:
        key = (rule.rule, x, ctx)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = tuple(self._enumerate(rule, x, ctx))
            self._peaks[key] = (max((c.params for c in found), default=0),
                                max((c.macs for c in found), default=0))
        return found

    def peaks(self, rule: NodeRule, x: Any, ctx: Any) -> tuple[int, int]:
        """Largest params and MACs among the candidates (after :meth:`candidates`)."""
        return self._peaks[(rule.rule, x, ctx)]

    #: entries kept before the caches are dropped (keeps memory bounded on long runs)
    MAX_ENTRIES = 100_000

    def trim(self) -> None:
        """Drop each per-shape cache that holds more than :attr:`MAX_ENTRIES` entries.

        Shapes met once (most aggregation inputs) would otherwise accumulate forever.
        Only the oversized cache goes: the leaf tables of recurring input shapes, costly
        to rebuild, stay warm while the merge caches churn.
        """
        if len(self._cache) > self.MAX_ENTRIES:
            self._cache.clear()
            self._peaks.clear()
        for cache, weight in ((self._viable, 1), (self.mergeable, 1), (self.reachable, 10),
                              (self._takes, 1), (self._rows, 10),
                              (self.leaf_options, 10)):
            if weight * len(cache) > self.MAX_ENTRIES:
                cache.clear()

    def clear(self) -> None:
        """Forget everything typed so far (it is typed again on demand)."""
        for cache in (self._cache, self._peaks, self._viable, self.leaf_options, self.mergeable,
                      self.reachable, self._takes, self._rows):
            cache.clear()

    def reach(self, alts: tuple[str, ...]) -> tuple[int, int]:
        """Largest smallest-completion size and depth among ``alts``."""
        found = self._reach.get(alts)
        if found is None:
            found = self._reach[alts] = (max(self.grammar.min_size[a] for a in alts),
                                         max(self.grammar.min_depth[a] for a in alts))
        return found

    def viable(self, choice: str, x: Any, ctx: Any) -> tuple[str, ...]:
        """Alternatives of a choice rule that can take ``x`` (leaf ops with no valid
        values for it are dropped; structures are tried)."""
        alts = self.grammar.choices[choice]
        if choice not in self.grammar.probs:
            # Uniform choices reject invalid picks as they come (see Deriver._allowed),
            # which avoids enumerating every leaf op for every new shape.
            return alts
        key = (choice, x, ctx)
        found = self._viable.get(key)
        if found is None:
            nodes = self.grammar.nodes
            found = self._viable[key] = tuple(
                a for a in alts
                if a not in nodes or not nodes[a].is_leaf or self.candidates(nodes[a], x, ctx))
        return found

    def accepts(self, rule: NodeRule, x: Any, ctx: Any) -> bool:
        """Whether some value choice of ``rule`` takes ``x`` (no candidates are built)."""
        infer, fits = self.spec[rule.rule].infer, self._fits
        for _, args in self._combos[rule.rule]:
            out = infer(x, args, ctx)
            if out is not None and fits(out):
                return True
        return False

    def outputs(self, slot: str, x: Any) -> frozenset:
        """Every output that one leaf op of ``slot`` makes of ``x`` (cached: a branching
        asks it for one input and many targets, most of which no op reaches)."""
        key = (slot, x)
        found = self.reachable.get(key)
        if found is None:
            found = self.reachable[key] = frozenset(
                self.spec[rule.rule].infer(x, args, None)
                for rule in self.grammar.derivable_rules[slot] if rule.is_leaf
                for _, args in self._combos[rule.rule])
        return found

    def combos(self, rule: NodeRule) -> list[tuple[tuple[Value, ...], tuple]]:
        """Every value choice of ``rule``: (values, parsed args), computed once."""
        combos = self._combos.get(rule.rule)
        if combos is None:
            choices = [[Value(s, t) for t in self.grammar.values[s]] for s in rule.slots]
            combos = self._combos[rule.rule] = [
                (tuple(values), tuple(v.value for v in values)) for values in product(*choices)]
        return combos

    def takes(self, rule: NodeRule, x: Any, ctx: Any) -> bool:
        """:meth:`accepts`, cached per input."""
        key = (rule.rule, x, ctx)
        found = self._takes.get(key)
        if found is None:
            found = self._takes[key] = self.accepts(rule, x, ctx)
        return found

    def row(self, rule: NodeRule, x: Any, ctx: Any) -> list:
        """The typed value choices of ``rule`` on ``x``, aligned with :meth:`combos`:
        a :class:`Candidate`, None where it does not fit, or ``_UNTYPED`` until
        :meth:`typed` is asked for it (cached: one lookup serves every draw of a leaf)."""
        key = (rule.rule, x, ctx)
        found = self._rows.get(key)
        if found is None:
            found = self._rows[key] = [_UNTYPED] * len(self._combos[rule.rule])
        return found

    def typed(self, rule: NodeRule, row: list, i: int, x: Any, ctx: Any) -> Candidate | None:
        """Value choice ``i`` of ``rule`` typed on ``x`` (``row`` is its :meth:`row`),
        or None if it does not fit."""
        found = row[i]
        if found is not _UNTYPED:
            return found
        spec = self.spec[rule.rule]
        values, args = self._combos[rule.rule][i]
        out = spec.infer(x, args, ctx)
        found = None
        if out is not None and self._fits(out):
            found = Candidate(values, out, spec.params(x, args, ctx),
                              spec.macs(x, args, ctx, out))
        row[i] = found
        return found

    def cum_weights(self, rule: str, alts: list[str]) -> list[float]:
        """Cumulative weights of ``alts`` under ``rule``'s fixed probabilities (the free
        alternatives share the rest): what ``random.choices`` would compute, cached."""
        key = (rule, tuple(alts))
        found = self._cum_weights.get(key)
        if found is None:
            fixed = self.grammar.probs[rule]
            pinned = {a: fixed[a] for a in alts if a in fixed}
            free = [a for a in alts if a not in fixed]
            rest = max(0.0, 1.0 - sum(pinned.values()))
            weights = [pinned[a] if a in pinned else rest / len(free) for a in alts]
            if sum(weights) <= 0:
                weights = [1.0] * len(alts)
            found = self._cum_weights[key] = list(accumulate(weights))
        return found

    def slot_combos(self, slot: str) -> tuple[tuple[NodeRule, int], ...]:
        """Every (leaf rule, index of a value choice) that ``slot`` derives in one step."""
        found = self._slot_combos.get(slot)
        if found is None:
            found = self._slot_combos[slot] = tuple(
                (rule, i) for rule in self.grammar.derivable_rules[slot] if rule.is_leaf
                for i in range(len(self.combos(rule))))
        return found

    def _enumerate(self, rule: NodeRule, x: Any, ctx: Any):
        row = self.row(rule, x, ctx)
        for i in range(len(row)):
            found = self.typed(rule, row, i, x, ctx)
            if found is not None:
                yield found

    def _fits(self, out: Any) -> bool:
        cap = self.limits.max_activation
        for shape in (out if isinstance(out[0], tuple) else (out,)):  # hot: no generators
            if prod(shape) > cap or min(shape) < 1:
                return False
        return True


class Deriver:
    """Samples or type-checks derivations of one grammar under one set of limits."""

    def __init__(self, grammar: Grammar, limits: Limits, leaves: LeafTable,
                 rng: random.Random | None = None):
        self.g, self.limits, self.leaves = grammar, limits, leaves
        self.rng = rng or random.Random(0)
        self.budget = _Budget()
        self.records: list[NodeInfo] = []
        self._deadline = math.inf  # expansions at which the current branch attempt stops

    # --- sampling -------------------------------------------------------------------

    def sample(self, rule: str, x: Any, ctx: Any = None, depth: int = 1) -> tuple[Node, Any] | None:
        """A random derivation of ``rule`` for input ``x``, or None if none fits."""
        budget = self.budget
        snap = budget.nodes, budget.params, budget.macs, budget.reserved
        result = (self._sample_choice(rule, x, ctx, depth) if rule in self.g.choices
                  else self._sample_node(self.g.nodes[rule], x, ctx, depth))
        if result is None:
            budget.nodes, budget.params, budget.macs, budget.reserved = snap
        return result

    def _sample_choice(self, rule: str, x: Any, ctx: Any, depth: int):
        alts = self._allowed(rule, x, ctx, depth)
        while alts:
            alt = self._pick(rule, alts)
            result = self.sample(alt, x, ctx, depth)
            if result is not None:
                return result
            alts.remove(alt)
        return None

    def _allowed(self, rule: str, x: Any, ctx: Any, depth: int) -> list[str]:
        alts = self.leaves.viable(rule, x, ctx)
        if not alts:
            return []
        room = self.limits.max_nodes - self.budget.nodes - self.budget.reserved
        widest, deepest = self.leaves.reach(alts)
        if widest <= room and depth - 1 + deepest <= self.limits.max_depth:
            ok = list(alts)  # the common case: every alternative fits
        else:
            ok = [a for a in alts if self.g.min_size[a] <= room
                  and depth - 1 + self.g.min_depth[a] <= self.limits.max_depth]
        if self.budget.expansions > self.limits.max_expansions and ok:
            smallest = min(self.g.min_size[a] for a in ok)
            ok = [a for a in ok if self.g.min_size[a] == smallest]
        if rule not in self.g.probs:
            # Uniform choice: rejecting picks over budget and drawing again among the
            # rest is uniform over the valid ones, without testing every one first.
            return ok
        return [a for a in ok if a not in self.g.nodes or not self.g.nodes[a].is_leaf
                or self._affordable(self.g.nodes[a], x, ctx)]

    def _pick(self, rule: str, alts: list[str]) -> str:
        if not self.g.probs.get(rule):
            return self.rng.choice(alts)
        # random.choices(alts, weights)[0], with the cumulative weights cached
        cum = self.leaves.cum_weights(rule, alts)
        return alts[bisect(cum, self.rng.random() * (cum[-1] + 0.0), 0, len(alts) - 1)]

    def _affordable(self, rule: NodeRule, x: Any, ctx: Any):
        found = self.leaves.candidates(rule, x, ctx)
        top_params, top_macs = self.leaves.peaks(rule, x, ctx)
        params_left, macs_left = self._left()
        if top_params <= params_left and top_macs <= macs_left:
            return found  # the common case: every candidate fits
        return [c for c in found if c.params <= params_left and c.macs <= macs_left]

    def _left(self) -> tuple[int, int]:
        return (self.limits.max_params - self.budget.params,
                self.limits.max_macs - self.budget.macs)

    def _sample_node(self, rule: NodeRule, x: Any, ctx: Any, depth: int):
        kind = self.leaves.spec[rule.rule].kind
        if kind == "sequential":
            return self._retry(self._sample_sequential, rule, x, depth)
        if kind == "branching":
            return self._retry(self._sample_branching, rule, x, depth)
        if kind == "routing":
            return self._retry(self._sample_routing, rule, x, depth)
        leaves = self.leaves
        key = (rule.rule, x, ctx)
        takes = leaves._takes.get(key)
        if takes is None:
            takes = leaves._takes[key] = leaves.accepts(rule, x, ctx)
        if not takes:
            return None
        params_left, macs_left = self._left()
        row = leaves._rows.get(key)
        if row is None:
            row = leaves.row(rule, x, ctx)

        def usable(i: int) -> Candidate | None:
            c = row[i]
            if c is _UNTYPED:
                c = leaves.typed(rule, row, i, x, ctx)
            return c if c is not None and c.params <= params_left and c.macs <= macs_left else None

        choice = self._draw(len(row), usable, lambda: self._affordable(rule, x, ctx))
        return None if choice is None else self._place_leaf(rule.op, choice)

    #: uniform draws tried before the options of a leaf are typed exhaustively
    DRAWS = 16

    def _draw(self, n: int, usable, exhaustive):
        """A uniform draw among the indices ``range(n)`` whose ``usable(i)`` is not None
        (that result is returned).

        Rejection sampling: most value choices of an op fit its input, so a few draws
        replace typing all of them; only after :attr:`DRAWS` misses is ``exhaustive()``
        (the accepted results, in pool order) listed and drawn from. The random stream
        consumed depends on the inputs alone, never on what the caches hold, so a seed
        keeps giving the same architecture.
        """
        randrange = self.rng.randrange
        for _ in range(self.DRAWS):
            found = usable(randrange(n))
            if found is not None:
                return found
        options = exhaustive()
        return self.rng.choice(options) if options else None

    def _retry(self, fn, rule: NodeRule, x: Any, depth: int):
        for _ in range(self.limits.retries):
            snap = self.budget.snapshot()
            result = fn(rule, x, depth)
            if result is not None:
                return result
            self.budget.restore(snap)
        return None

    def _open(self, rule: NodeRule) -> None:
        """Count the structure node and reserve the smallest completion of its slots."""
        self._expand()
        self.budget.nodes += 1
        self.budget.reserved += sum(self.g.min_size[s] for s in rule.slots)

    def _expand(self) -> None:
        self.budget.expansions += 1
        if self.budget.expansions > self._deadline:
            raise _Abandoned

    def _take(self, slot: str, x: Any, ctx: Any, depth: int):
        self.budget.reserved -= self.g.min_size[slot]
        return self.sample(slot, x, ctx, depth + 1)

    def _sample_sequential(self, rule: NodeRule, x: Any, depth: int):
        self._open(rule)
        children = []
        for slot in rule.slots:
            result = self._take(slot, x, None, depth)
            if result is None:
                return None
            child, x = result
            children.append(child)
        return Node(rule.op, tuple(children)), x

    def _sample_branching(self, rule: NodeRule, x: Any, depth: int):
        self._open(rule)
        split_slot, *module_slots, merge_slot = rule.slots
        split = self._take(split_slot, x, len(module_slots), depth)
        if split is None:
            return None
        children, outs = [split[0]], []
        for i, (slot, part) in enumerate(zip(module_slots, split[1], strict=True)):
            later = module_slots[i + 1] if i + 1 < len(module_slots) else None
            result = self._take_mergeable(slot, part, depth, merge_slot, outs,
                                          len(module_slots), later)
            if result is None:
                return None
            children.append(result[0])
            outs.append(result[1])
        merge = self._take(merge_slot, tuple(outs), None, depth)
        if merge is None:
            return None
        return Node(rule.op, tuple(children) + (merge[0],)), merge[1]

    def _take_mergeable(self, slot: str, part: Any, depth: int, merge_slot: str,
                        outs: list, k: int, later: str | None):
        """Sample one branch such that the branching can still be merged.

        A sampled subtree is kept when its output keeps the merge possible (see
        :meth:`_keeps_merge_open`); otherwise, or when even a shape-keeping branch could
        not merge, the branch is a single leaf op chosen among those that fit.
        """
        self.budget.reserved -= self.g.min_size[slot]
        # A later branch must land on a shape that merges with the first. Random
        # subtrees mostly keep their input's shape, so draw one only when the first
        # branch kept it too; otherwise go straight to one op that fits.
        tries = self.limits.branch_retries if not outs or outs[0] == part else 0
        for _ in range(tries):
            snap = self.budget.snapshot()
            result = self._bounded_attempt(slot, part, depth + 1)
            if result is not None and self._keeps_merge_open(later, part, merge_slot, outs,
                                                             result[1], k):
                return result
            self.budget.restore(snap)
        return self._mergeable_leaf(slot, part, merge_slot, outs, k, later)

    def _bounded_attempt(self, slot: str, part: Any, depth: int):
        """Sample a branch subtree, abandoned once it has built ``branch_expansions`` nodes.

        Branch subtrees that change shape are mostly discarded for the single-op
        fallback, and the discarded ones are the large ones; bounding an attempt caps
        that waste (kept branches are small: p99 17 nodes on einspace, at most ``max_nodes``).
        """
        outer = self._deadline
        self._deadline = min(outer, self.budget.expansions + self.limits.branch_expansions)
        try:
            return self.sample(slot, part, None, depth)
        except _Abandoned:
            if self.budget.expansions > outer:
                raise  # an enclosing attempt ran out too: it is the one to give up
            return None
        finally:
            self._deadline = outer

    def _mergeable(self, merge_slot: str, outs: tuple) -> bool:
        key = (merge_slot, outs)
        found = self.leaves.mergeable.get(key)
        if found is None:
            found = self.leaves.mergeable[key] = any(
                self.leaves.accepts(rule, outs, None)
                for rule in self.g.derivable_rules[merge_slot])
        return found

    def _keeps_merge_open(self, later: str | None, part: Any, merge_slot: str, outs: list,
                          new: Any, k: int) -> bool:
        """Whether branch output ``new`` still lets the branching finish.

        It must be mergeable with the branches so far, the rest padded with copies of the
        first branch's output; and while branches remain, one leaf op of the ``later``
        slot must turn a branch input into that first output, so the padding is real: it
        is the fallback that keeps a branching from failing after its first branches were
        paid for. (All parts of a split have one shape, so ``part`` stands for them all.)
        """
        trial = tuple(outs) + (new,)
        if not self._mergeable(merge_slot, trial + (trial[0],) * (k - len(trial))):
            return False
        return later is None or self._leaf_reaches(later, part, trial[0])

    def _leaf_options(self, slot: str, part: Any) -> tuple[tuple, dict]:
        """Every single leaf op that ``slot`` offers on ``part``, typed, and their
        positions grouped by output (a merge check is made per output, not per option)."""
        key = (slot, part)
        found = self.leaves.leaf_options.get(key)
        if found is None:
            options = tuple((rule.op, c) for rule in self.g.derivable_rules[slot]
                            if rule.is_leaf for c in self.leaves.candidates(rule, part, None))
            by_out: dict[Any, list[int]] = {}
            for i, (_, c) in enumerate(options):
                by_out.setdefault(c.out, []).append(i)
            found = self.leaves.leaf_options[key] = (options, by_out)
        return found

    def _leaf_reaches(self, slot: str, part: Any, target: Any) -> bool:
        """Whether one leaf op of ``slot`` turns ``part`` into ``target``."""
        return target in self.leaves.outputs(slot, part)

    def _mergeable_leaf(self, slot: str, part: Any, merge_slot: str, outs: list, k: int,
                        later: str | None):
        """Last resort for a branch: one leaf op that keeps the merge possible, drawn
        uniformly among those that do and fit the budget."""
        verdicts: dict[Any, bool] = {}  # many ops share an output shape
        params_left, macs_left = self._left()

        def keeps_open(c: Candidate) -> bool:
            if c.params > params_left or c.macs > macs_left:
                return False
            if c.out not in verdicts:
                verdicts[c.out] = self._keeps_merge_open(later, part, merge_slot, outs, c.out, k)
            return verdicts[c.out]

        leaves, pool, rows = self.leaves, self.leaves.slot_combos(slot), {}

        def usable(j: int):
            rule, i = pool[j]
            row = rows.get(rule.rule)
            if row is None:
                row = rows[rule.rule] = leaves.row(rule, part, None)
            c = row[i]
            if c is _UNTYPED:
                c = leaves.typed(rule, row, i, part, None)
            return (rule.op, c) if c is not None and keeps_open(c) else None

        def exhaustive():  # the options that keep_open accepts, in their order
            options, by_out = self._leaf_options(slot, part)
            kept = []
            for out, where in by_out.items():
                if out not in verdicts:
                    verdicts[out] = self._keeps_merge_open(later, part, merge_slot, outs, out, k)
                if verdicts[out]:
                    kept += where
            kept.sort()
            return [options[i] for i in kept
                    if options[i][1].params <= params_left and options[i][1].macs <= macs_left]

        choice = self._draw(len(pool), usable, exhaustive) if pool else None
        return None if choice is None else self._place_leaf(*choice)

    def _place_leaf(self, op: str, choice: Candidate):
        self._expand()
        self.budget.nodes += 1
        self.budget.params += choice.params
        self.budget.macs += choice.macs
        return Node(op, choice.children), choice.out

    def _sample_routing(self, rule: NodeRule, x: Any, depth: int):
        self._open(rule)
        pre_slot, inner_slot, post_slot = rule.slots
        pre = self._take(pre_slot, x, None, depth)
        inner = pre and self._take(inner_slot, pre[1], None, depth)
        if inner is None:
            return None
        post = self._take(post_slot, inner[1], (pre[0].op, pre[0].args, x), depth)
        if post is None:
            return None
        return Node(rule.op, (pre[0], inner[0], post[0])), post[1]

    # --- checking -------------------------------------------------------------------

    def check(self, node: Node, rule: str, x: Any, ctx: Any = None, depth: int = 1,
              path: tuple[int, ...] = ()) -> Any:
        """Type ``node`` as a derivation of ``rule`` on input ``x``; its output type.

        Raises:
            ArchitectureError: the op cannot appear there, a value is not offered by the
                grammar, or an op does not accept its input shape.
        """
        options = [r for r in self.g.derivable_rules.get(rule, ()) if r.op == node.op]
        if not options:
            raise ArchitectureError(f"{self._show(node)} cannot appear where the grammar "
                                    f"expects {rule!r}")
        for nrule in options[:-1]:  # several rules of one op: the first that types wins
            kept = len(self.records)
            try:
                return self._check_as(node, nrule, rule, x, ctx, depth, path)
            except ArchitectureError:
                del self.records[kept:]
        return self._check_as(node, options[-1], rule, x, ctx, depth, path)

    def _check_as(self, node: Node, nrule: NodeRule, rule: str, x: Any, ctx: Any, depth: int,
                  path: tuple[int, ...]) -> Any:
        if len(node.children) != len(nrule.slots):
            raise ArchitectureError(f"{self._show(node)} needs {len(nrule.slots)} arguments, "
                                    f"got {len(node.children)}")
        kind = get_op(node.op).kind
        if kind == "sequential":
            out = self._check_sequential(node, nrule, x, depth, path)
        elif kind == "branching":
            out = self._check_branching(node, nrule, x, depth, path)
        elif kind == "routing":
            out = self._check_routing(node, nrule, x, depth, path)
        else:
            return self._check_leaf(node, nrule, rule, x, ctx, depth, path)
        self.records.append(NodeInfo(path, rule, node, x, ctx, out, 0, 0, depth))
        return out

    def _check_leaf(self, node, nrule, rule, x, ctx, depth, path):
        for value, slot in zip(node.children, nrule.slots, strict=True):
            if not isinstance(value, Value) or value.text not in self.g.values[slot]:
                offered = ", ".join(self.g.values[slot])
                raise ArchitectureError(f"{self._show(node)}: {getattr(value, 'text', value)!r} "
                                        f"is not a {slot!r} of this grammar ({offered})")
        spec, args = get_op(node.op), node.args
        out = spec.infer(x, args, ctx)
        if out is None:
            raise ArchitectureError(f"{self._show(node)} does not accept input "
                                    f"{_shape_text(x)}")
        info = NodeInfo(path, rule, node, x, ctx, out, spec.params(x, args, ctx),
                        spec.macs(x, args, ctx, out), depth)
        self.records.append(info)
        return out

    def _check_sequential(self, node, nrule, x, depth, path):
        for i, (child, slot) in enumerate(zip(node.children, nrule.slots, strict=True)):
            x = self.check(child, slot, x, None, depth + 1, path + (i,))
        return x

    def _check_branching(self, node, nrule, x, depth, path):
        k = len(nrule.slots) - 2
        parts = self.check(node.children[0], nrule.slots[0], x, k, depth + 1, path + (0,))
        outs = tuple(self.check(node.children[i], nrule.slots[i], parts[i - 1], None, depth + 1,
                                path + (i,)) for i in range(1, k + 1))
        return self.check(node.children[-1], nrule.slots[-1], outs, None, depth + 1,
                          path + (k + 1,))

    def _check_routing(self, node, nrule, x, depth, path):
        pre, inner, post = node.children
        mid = self.check(pre, nrule.slots[0], x, None, depth + 1, path + (0,))
        mid = self.check(inner, nrule.slots[1], mid, None, depth + 1, path + (1,))
        return self.check(post, nrule.slots[2], mid, (pre.op, pre.args, x), depth + 1,
                          path + (2,))

    def _show(self, node: Node) -> str:
        text = self.g.render(node)
        return text if len(text) <= 60 else text[:57] + "..."


def _shape_text(x: Any) -> str:
    if x and isinstance(x[0], tuple):
        return "branches " + ", ".join(_shape_text(s) for s in x)
    return "x".join(str(d) for d in x)


@dataclass
class TypedArchitecture:
    """The result of checking an architecture on an input shape."""

    output_shape: Shape
    params: int
    macs: int
    nodes: int
    depth: int
    records: list[NodeInfo] = field(repr=False, default_factory=list)
