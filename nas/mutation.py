"""Small-step mutations: one edit of an architecture that keeps it valid and close.

:meth:`nas.space.Space.mutate` resamples a whole random subtree, the root included, so
a good parent often gets a child that shares little with it. The mutations here make
**one small edit**, chosen among the kinds below, only where the grammar derives the
result and shapes stay valid (every child is type-checked on the task's input shape,
within the space's limits, with the task's head):

* ``leaf``: one value of a leaf op moved to a neighbouring value of its grammar rule
  (a width 64 -> 32 or 128, a kernel 3 -> 5, a window, a head count, a family op's
  parameter);
* ``swap``: a leaf op replaced by another op of the same kind that the grammar derives at
  that place and that gives the same output shape (``relu`` -> ``gelu``, ``linear(64)``
  -> ``lecun_linear(64)``, ``add`` -> ``mul``);
* ``insert``: a shape-keeping op (not ``identity``) put before or after a module, as a
  ``sequential`` of the two;
* ``add-norm``, ``add-activation``: the same with a normalisation / an activation;
* ``remove``: a ``sequential``'s shape-keeping child of at most three nodes dropped, or a
  residual wrapper (``branch2(clone, M, identity, add)``) unwrapped to ``M``;
* ``wrap-residual``: a shape-keeping module ``M`` wrapped as ``branch2(clone, M,
  identity, add)`` (any two-branch rule of the grammar with ``clone``, ``identity`` and
  ``add`` where they can appear);
* ``add-conv``: a narrow convolution put before a module whose input is an image
  (C, H, W) or a sequence (S, D): ``routing(im2col(k,1,p), sequential(linear(w),
  activation), col2im)`` (``identity`` instead of ``col2im`` for sequences), a window
  wider than one position that keeps the spatial size, w one of the two narrowest
  widths. einspace builds convolutions this way, but its samples almost never contain
  one and no other edit reaches one from a network without (issue 13: 0 to 2 of each
  20-minute digits search's evaluations were convolutional);
* ``deepen``: a small module with weights (at most :data:`DEEPEN_MAX_NODES` nodes: a
  layer, a convolution block) repeated, ``sequential(M, M)``, the copy untied and applied
  to ``M``'s output. A deep stack of the same block is what the good 1-D CNNs on mnist1d
  are (issue 13: the reference ``cnn1d-deep``, four convolutions, reaches 99% test where
  two reach 78%), and ``add-conv`` adds one narrow layer at a time;
* ``subtree``: one subtree resampled from its slot, the site drawn with weight
  1/size^2 (small subtrees far more often), never the root.

:func:`small_mutation` draws a kind (weights :data:`KIND_WEIGHTS`), tries its edits in a
random order until one type-checks, and moves on to another kind when none does. A
small step is small in cost too: a child may have at most :data:`MAX_MACS_GROWTH` times
its parent's multiply-accumulates (plus :data:`MACS_SLACK`), because a swap of a linear
layer for a family op of the same output shape can multiply them a hundredfold (seen in
``nas perf search``: such children timed out). ``add-conv`` gets :data:`CONV_MACS_GROWTH`
instead: a convolution that widens a one-channel image to 16 channels multiplies the
cost of every layer after it by 16, and that is the step it exists to make. Every
random choice comes from the given ``rng``: the same seed gives the same child.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from nas.architecture import Architecture, Node, Value
from nas.derive import Deriver, NodeInfo, TypedArchitecture
from nas.errors import ArchitectureError
from nas.ops.registry import Shape, get_op

#: relative weight of each mutation kind (renormalised over the kinds asked for). Set from
#: the children of three 20-minute digits searches (docs/search.md, "Mutation kinds"):
#: 41% of add-conv children beat their parent, 0-12% of remove, subtree and insert ones.
#: ``deepen`` (stop 26) got a structural kind's weight; in its first mnist1d run its 8
#: completed children had a median validation level with leaf and swap ones
KIND_WEIGHTS = {"leaf": 0.30, "swap": 0.20, "insert": 0.08, "add-norm": 0.05,
                "add-activation": 0.07, "remove": 0.06, "wrap-residual": 0.10,
                "add-conv": 0.12, "deepen": 0.08, "subtree": 0.07}
KINDS = tuple(KIND_WEIGHTS)
#: kinds that add a layer to the network. Their children start slower (in a 60-minute
#: mnist1d search 39% of them were stopped at the 1-epoch rung against 23% of other
#: children); ``--growth-grace`` can let them pass rungs unjudged (off by default: it did
#: not pay, docs/search.md "Multi-fidelity")
GROWTH_KINDS = frozenset({"insert", "add-norm", "add-activation", "add-conv", "deepen"})
#: ops that ``add-norm`` / ``add-activation`` insert (when the grammar offers them there)
NORMS = frozenset({"norm"})
ACTIVATIONS = frozenset({"relu", "leakyrelu", "gelu", "silu", "selu", "tanh"})
#: edits type-checked per kind before trying another kind
MAX_TRIES = 24
#: largest child a ``remove`` drops from a sequential
REMOVE_MAX_NODES = 3
#: largest module a ``deepen`` repeats (a convolution block with a norm has 6-9 nodes)
DEEPEN_MAX_NODES = 10
#: a child's MACs may be at most this times its parent's, plus MACS_SLACK
MAX_MACS_GROWTH = 2.0
MACS_SLACK = 50_000
#: the same bound for ``add-conv`` (widening C channels to w multiplies what follows by w/C)
CONV_MACS_GROWTH = 32.0
#: ``add-conv``: the op that cuts windows (pre-routing), the ops that undo it (post-routing),
#: the mixing op whose narrowest widths it uses, and how many of them
CONV_WINDOWS, CONV_FOLDS, CONV_MIXER, CONV_WIDTHS = "im2col", ("col2im", "identity"), "linear", 2


@dataclass(frozen=True)
class Mutant:
    """A mutated architecture and the kind of edit that made it (one of :data:`KINDS`)."""

    arch: Architecture
    kind: str


def small_mutation(space, arch: Architecture, input_shape: Shape, rng: random.Random,
                   head=None, kinds: tuple[str, ...] | None = None) -> Mutant:
    """One small edit of ``arch`` (see the module docstring), valid for ``input_shape``
    and ``head`` within ``space``'s limits.

    Args:
        space: the :class:`~nas.space.Space` of ``arch``.
        kinds: the kinds to draw from (default all of :data:`KINDS`).

    Returns:
        Mutant; when no edit of any kind type-checks, a :meth:`Space.mutate` child with
        kind ``subtree``.
    """
    typed = space.check(arch, input_shape)
    pending = list(kinds or KINDS)
    while pending:
        kind = rng.choices(pending, [KIND_WEIGHTS[k] for k in pending])[0]
        pending.remove(kind)
        growth = CONV_MACS_GROWTH if kind == "add-conv" else MAX_MACS_GROWTH
        fits = _fits(space, input_shape, head, typed.macs * growth + MACS_SLACK)
        child = _first_valid(arch, typed, kind, rng, fits, space)
        if child is not None:
            return Mutant(child, kind)
    return Mutant(space.mutate(arch, input_shape, rng, head), "subtree")


def _fits(space, input_shape: Shape, head, max_macs: float) -> Callable:
    """``fits(root) -> Architecture | None``: the tree as an architecture when it
    type-checks within the limits and has at most ``max_macs`` MACs."""

    def fits(root: Node) -> Architecture | None:
        arch = space.grammar.architecture(root)
        try:
            typed = space.check(arch, input_shape, head, enforce_limits=True)
        except ArchitectureError:
            return None
        return arch if typed.macs <= max_macs else None

    return fits


def _first_valid(arch, typed, kind, rng, fits, space) -> Architecture | None:
    if kind == "subtree":
        return _subtree(space, arch, typed, rng, fits)
    edits = list(EDITS[kind](space, typed))
    rng.shuffle(edits)
    if kind == "deepen":  # largest first: a whole block repeated, not a layer inside it
        edits.sort(key=lambda edit: -edit[1].size())
    for path, new in edits[:MAX_TRIES]:
        child = fits(arch.root.replace(path, new))
        if child is not None and child != arch:
            return child
    return None


Edit = tuple[tuple[int, ...], Node]


# --- leaf values and op swaps --------------------------------------------------------


def _leaf_edits(space, typed: TypedArchitecture) -> Iterator[Edit]:
    """Each value of each leaf op moved one step along its rule's list of values."""
    values = space.grammar.values
    for site in typed.records:
        for i, child in enumerate(site.node.children):
            if not isinstance(child, Value) or child.rule not in values:
                continue
            options = list(values[child.rule])
            at = options.index(child.text) if child.text in options else -1
            for j in (at - 1, at + 1):
                if at >= 0 and 0 <= j < len(options):
                    yield site.path, _with_child(site.node, i, Value(child.rule, options[j]))


def _swap_edits(space, typed: TypedArchitecture) -> Iterator[Edit]:
    """Each leaf op replaced by another op of its kind with the same output shape."""
    for site in typed.records:
        kind = get_op(site.node.op).kind
        if site.node.subnodes or kind in ("sequential", "branching", "routing"):
            continue
        for rule in space.grammar.derivable_rules.get(site.slot, ()):
            if rule.op == site.node.op or not rule.is_leaf or get_op(rule.op).kind != kind:
                continue
            for c in space._leaves.candidates(rule, site.x, site.ctx):
                if c.out == site.out:
                    yield site.path, Node(rule.op, c.children)


# --- structural edits ----------------------------------------------------------------


def _insert_edits(space, typed: TypedArchitecture, allowed: Callable[[str], bool]
                  ) -> Iterator[Edit]:
    """A shape-keeping leaf op (``allowed`` by name) before or after a module."""
    seq = _sequential_op(space)
    if seq is None:
        return
    for site in _module_sites(space, typed, seq):
        for before in (False, True):
            shape = site.x if before else site.out
            for op, c in _keeping_leaves(space, shape, allowed):
                pair = (Node(op, c.children), site.node) if before else \
                    (site.node, Node(op, c.children))
                yield site.path, Node(seq, pair)


def _remove_edits(space, typed: TypedArchitecture) -> Iterator[Edit]:
    """A small shape-keeping child of a sequential dropped; a residual unwrapped."""
    for site in typed.records:
        node, kind = site.node, get_op(site.node.op).kind
        if kind == "sequential" and len(node.children) == 2:
            for drop in (0, 1):
                gone = node.children[drop]
                if isinstance(gone, Node) and gone.size() <= REMOVE_MAX_NODES:
                    yield site.path, node.children[1 - drop]
        elif kind == "branching" and _is_residual(node):
            yield site.path, node.children[1]


def _wrap_edits(space, typed: TypedArchitecture) -> Iterator[Edit]:
    """A shape-keeping module wrapped in a residual branch."""
    for site in typed.records:
        if site.x != site.out or _is_residual(site.node):
            continue
        for rule in space.grammar.derivable_rules.get(site.slot, ()):
            if get_op(rule.op).kind != "branching" or len(rule.slots) != 4:
                continue
            ops = [space.grammar.derivable_ops.get(s, ()) for s in rule.slots]
            if "clone" in ops[0] and "identity" in ops[2] and "add" in ops[3]:
                yield site.path, Node(rule.op, (Node("clone"), site.node, Node("identity"),
                                                Node("add")))
                break


def _deepen_edits(space, typed: TypedArchitecture) -> Iterator[Edit]:
    """A small module with weights repeated: ``sequential(M, M)`` (the whole tree is
    type-checked afterwards, so a copy that does not take ``M``'s output is dropped)."""
    seq = _sequential_op(space)
    if seq is None:
        return
    weighted = [r.path for r in typed.records if r.params]
    for site in _module_sites(space, typed, seq):
        depth = len(site.path)
        if (site.node.size() <= DEEPEN_MAX_NODES
                and any(path[:depth] == site.path for path in weighted)):
            yield site.path, Node(seq, (site.node, site.node))


def _conv_edits(space, typed: TypedArchitecture) -> Iterator[Edit]:
    """A narrow convolution (see the module docstring) before a module on an image or a
    sequence."""
    seq = _sequential_op(space)
    if seq is None:
        return
    blocks = _conv_blocks(space, seq)
    slot = space.grammar.rule_for_op(seq).slots[0]  # where the convolution will stand
    network_input = next(r.x for r in typed.records if r.path == ())
    for site in _module_sites(space, typed, seq):
        if blocks and _slides_over_positions(site.x, network_input):
            for block in _position_keeping(space, blocks, site.x, slot):
                yield site.path, Node(seq, (block, site.node))


def _slides_over_positions(x, network_input) -> bool:
    """Whether a convolution at input ``x`` slides over the task's own positions: any
    image (C, H, W), or a sequence of the input sequence's length (not the tokens a
    routing cut, e.g. four 4x4 patches)."""
    if not isinstance(x, tuple) or not isinstance(network_input, tuple):
        return False
    if len(x) == 3:
        return True
    return len(x) == 2 == len(network_input) and x[0] == network_input[0]


#: per (grammar hash, sequential op): the grammar's convolution blocks; per (grammar hash, limits,
#: shape, slot): those that fit there. Both depend on nothing else, and a search
#: asks for them at every ``add-conv`` proposal.
_BLOCKS: dict[tuple, list[Node]] = {}
_FITTING: dict[tuple, list[Node]] = {}


def _position_keeping(space, blocks: list[Node], x: tuple, slot: str) -> list[Node]:
    """The ``blocks`` that type in ``slot`` on input ``x``, keep its positions and whose
    window fits inside them (a 3-wide window on a 1-long sequence mixes nothing)."""
    key = (space.hash, space.limits, x, slot)
    if key not in _FITTING:
        _FITTING[key] = _fitting_blocks(space, blocks, x, slot)
    return _FITTING[key]


def _fitting_blocks(space, blocks: list[Node], x: tuple, slot: str) -> list[Node]:
    deriver = Deriver(space.grammar, space.limits, space._leaves)
    positions = min(x[1:]) if len(x) == 3 else x[0]
    kept = []
    for block in blocks:
        if _window_size(block.children[0].children[0].text) > positions:
            continue
        try:
            out = deriver.check(block, slot, x)
        except ArchitectureError:
            continue
        if _same_positions(x, out):
            kept.append(block)
    return kept


def _conv_blocks(space, seq: str) -> list[Node]:
    """Every ``routing(window op, sequential(mixer, activation), fold op)`` the grammar
    derives (``seq``: its sequential op), with windows wider than one position and the
    narrowest mixer widths (untyped: :func:`_conv_edits` keeps those that fit a site)."""
    key = (space.hash, seq)
    if key not in _BLOCKS:
        _BLOCKS[key] = _derivable_conv_blocks(space, seq)
    return _BLOCKS[key]


def _derivable_conv_blocks(space, seq: str) -> list[Node]:
    g = space.grammar
    routings = sorted({r for rules in g.derivable_rules.values() for r in rules
                       if get_op(r.op).kind == "routing" and len(r.slots) == 3},
                      key=lambda r: r.rule)
    mixer, window = (g.nodes.get(g.op_rule.get(op, "")) for op in (CONV_MIXER, CONV_WINDOWS))
    if not routings or mixer is None or len(mixer.slots) != 1:
        return []
    pre, inner, post = routings[0].slots
    if (window is None or len(window.slots) != 1
            or CONV_WINDOWS not in g.derivable_ops.get(pre, ())):
        return []
    windows = [w for w in g.values[window.slots[0]] if _window_size(w) > 1]
    widths = sorted(g.values[mixer.slots[0]], key=float)[:CONV_WIDTHS]
    acts = sorted(ACTIVATIONS & g.derivable_ops.get(inner, frozenset()))
    folds = [f for f in CONV_FOLDS if f in g.derivable_ops.get(post, ())]
    return [Node(routings[0].op, (Node(CONV_WINDOWS, (Value(window.slots[0], w),)),
                                  Node(seq, (Node(CONV_MIXER, (Value(mixer.slots[0], n),)),
                                             Node(act))),
                                  Node(fold)))
            for w in windows for n in widths for act in acts for fold in folds]


def _window_size(text: str) -> int:
    """The first number of a window value (``"3,1,1"`` -> 3): positions per side."""
    head = text.split(",")[0].strip()
    return int(head) if head.isdigit() else 0


def _same_positions(x: tuple, out) -> bool:
    """Whether ``out`` has ``x``'s rank and positions: (C, H, W) -> (C', H, W), or
    (S, D) -> (S, D')."""
    if not isinstance(out, tuple) or len(out) != len(x):
        return False
    return out[1:] == x[1:] if len(x) == 3 else out[0] == x[0]


def _is_residual(node: Node) -> bool:
    kids = node.children
    return (len(kids) == 4 and get_op(node.op).kind == "branching"
            and kids[0] == Node("clone") and kids[2] == Node("identity")
            and kids[3] == Node("add"))


def _sequential_op(space) -> str | None:
    ops = {r.op for rules in space.grammar.derivable_rules.values() for r in rules
           if get_op(r.op).kind == "sequential" and len(r.slots) == 2}
    return min(ops) if ops else None


def _module_sites(space, typed: TypedArchitecture, seq: str) -> Iterator[NodeInfo]:
    """Nodes at places where a sequential may stand (so a pair can replace them)."""
    for site in typed.records:
        if seq in space.grammar.derivable_ops.get(site.slot, ()):
            yield site


def _keeping_leaves(space, shape, allowed: Callable[[str], bool]):
    """(op, typed candidate) of the grammar's module leaf ops that map ``shape`` to itself."""
    seen = set()
    for rules in _module_leaf_rules(space):
        for rule in rules:
            if rule.rule in seen or not allowed(rule.op):
                continue
            seen.add(rule.rule)
            for c in space._leaves.candidates(rule, shape, None):
                if c.out == shape:
                    yield rule.op, c


def _module_leaf_rules(space):
    """Leaf rules that a sequential's slots derive."""
    for rule_list in space.grammar.derivable_rules.values():
        for rule in rule_list:
            if get_op(rule.op).kind == "sequential":
                yield [r for s in rule.slots for r in space.grammar.derivable_rules.get(s, ())
                       if r.is_leaf and get_op(r.op).kind == "computation"]


def _with_child(node: Node, i: int, child) -> Node:
    children = list(node.children)
    children[i] = child
    return Node(node.op, tuple(children))


# --- subtree resampling ----------------------------------------------------------------


def _subtree(space, arch, typed, rng, fits) -> Architecture | None:
    """Resample one subtree, the site drawn with weight 1/size^2, never the root."""
    sites = [s for s in typed.records if s.path]
    if not sites:
        return None
    weights = [1.0 / s.node.size() ** 2 for s in sites]
    for _ in range(MAX_TRIES):
        site = rng.choices(sites, weights)[0]
        sub = space._resample_at(site, typed, rng)
        if sub is None or sub == site.node:
            continue
        child = fits(arch.root.replace(site.path, sub))
        if child is not None:
            return child
    return None


EDITS: dict[str, Callable] = {
    "leaf": _leaf_edits,
    "swap": _swap_edits,
    "insert": lambda space, typed: _insert_edits(space, typed, lambda op: op != "identity"),
    "add-norm": lambda space, typed: _insert_edits(space, typed, NORMS.__contains__),
    "add-activation": lambda space, typed: _insert_edits(space, typed,
                                                         ACTIVATIONS.__contains__),
    "remove": _remove_edits,
    "wrap-residual": _wrap_edits,
    "add-conv": _conv_edits,
    "deepen": _deepen_edits,
}
