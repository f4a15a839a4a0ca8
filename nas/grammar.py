"""Grammars: lark files read as data, for sampling, parsing and printing architectures.

A grammar file is an ordinary lark grammar that parses canonical architecture strings.
Its rules come in three shapes, told apart by the op registry:

* **node rules** are named after a registered op (``linear``, ``sequential``...) and
  have one expansion: literals (printed as written) and slots (rule names), e.g.
  ``linear: "linear(" width ")"``. A leaf op's slots are value rules; a structure's slots
  are choice or node rules.
* **value rules** list literal alternatives: ``width: "16" | "32" | "64"``.
* **choice rules** list alternatives that are single rule names:
  ``module: sequential | branching | routing | computation``.

Sampling probabilities are written as comment directives, which lark ignores::

    //@ p(module -> computation) = 0.32

fixes the probability of choosing ``computation`` when ``module`` is expanded and
``computation`` is valid for the current shape; the other valid alternatives share the
remaining mass uniformly (einspace's convention). Without directives every valid
alternative is equally likely. Rules may be shared between grammars with lark's
``%import .einspace (linear, relu)``; imported helper rules keep lark's ``ns__`` prefix,
and a node rule's op is its name without that prefix.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput
from lark.lexer import PatternStr

from nas.architecture import Architecture, Node, Value
from nas.errors import ArchitectureError, GrammarError
from nas.ops.registry import STRUCTURES, get_op, is_registered
from nas.paths import input_file, read_text

#: deepest nesting of brackets an architecture string may have. Parsing, type checking,
#: building and ONNX export all walk the tree recursively; 64 levels stay far inside
#: Python's recursion limit in every stage (export fails near 200), and sampling stops
#: at depth 10 (:class:`nas.derive.Limits`), so no real architecture comes close.
MAX_NESTING = 64
#: longest architecture string parsed, in characters: lark's Earley parser needs about
#: 0.1 ms a character, so this bounds a parse near 7 s; sampled architectures (48 nodes
#: at most by default) are well under 2,000 characters.
MAX_LENGTH = 65_536
_OPENERS, _CLOSERS = frozenset("([{"), frozenset(")]}")

_PROB = re.compile(r"^\s*//@\s*p\(\s*(\w+)\s*->\s*(\w+)\s*\)\s*=\s*([0-9.eE+-]+)\s*$")
_REFERENCE = re.compile(r"^\s*//@\s*reference\s+([\w-]+)\s+(\d+(?:x\d+)*)\s*:\s*(.+?)\s*$")
_DIRECTIVE = re.compile(r"^\s*//@")


@dataclass(frozen=True)
class NodeRule:
    """A node rule: its op, its slots (rule names) and its print template."""

    rule: str
    op: str
    slots: tuple[str, ...]
    template: tuple[str | None, ...]  # literals, with None where a slot is printed
    is_leaf: bool  # a leaf op (value slots only) rather than a structure


@dataclass
class Grammar:
    """A compiled grammar: its rules classified, probabilities, parser and printer."""

    name: str
    text: str
    source: str
    nodes: dict[str, NodeRule]
    choices: dict[str, tuple[str, ...]]
    values: dict[str, tuple[str, ...]]
    probs: dict[str, dict[str, float]]
    parser: Lark = field(repr=False)
    op_rule: dict[str, str] = field(default_factory=dict)
    literals: dict[str, str] = field(default_factory=dict, repr=False)
    references: dict[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)

    @cached_property
    def hash(self) -> str:
        """12-hex sha256 of the grammar's meaning (rules after imports, probabilities)."""
        payload = json.dumps(
            [sorted((r, n.op, n.slots, n.template) for r, n in self.nodes.items()),
             sorted(self.choices.items()), sorted(self.values.items()),
             sorted((r, sorted(p.items())) for r, p in self.probs.items())],
            default=list,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    @cached_property
    def min_size(self) -> dict[str, int]:
        """Fewest nodes any derivation of each rule has (values count 0)."""
        return _fixpoint(self, lambda kids: 1 + sum(kids), combine_choice=min)

    @cached_property
    def min_depth(self) -> dict[str, int]:
        """Smallest depth any derivation of each rule has."""
        return _fixpoint(self, lambda kids: 1 + max(kids, default=0), combine_choice=min)

    @cached_property
    def derivable_rules(self) -> dict[str, tuple[NodeRule, ...]]:
        """For each rule, the node rules a derivation can start with (through choices)."""

        def reach(rule: str, seen: frozenset[str]) -> dict[str, None]:
            if rule in self.nodes:
                return {rule: None}
            found: dict[str, None] = {}
            if rule not in seen:
                for alt in self.choices.get(rule, ()):
                    found.update(reach(alt, seen | {rule}))
            return found

        return {rule: tuple(self.nodes[r] for r in reach(rule, frozenset()))
                for rule in list(self.nodes) + list(self.choices)}

    @cached_property
    def derivable_ops(self) -> dict[str, frozenset[str]]:
        """For each rule, the ops a derivation can start with (through choices only)."""
        return {rule: frozenset(n.op for n in nodes)
                for rule, nodes in self.derivable_rules.items()}

    def rule_for_op(self, op: str) -> NodeRule:
        """The (first) node rule of ``op``; all rules of one op print alike."""
        try:
            return self.nodes[self.op_rule[op]]
        except KeyError:
            raise ArchitectureError(f"op {op!r} is not part of grammar {self.name!r}") from None

    # --- strings <-> trees ----------------------------------------------------------

    def render(self, node: Node | Value) -> str:
        """The canonical string of a tree (literals as in the grammar, ', ' after commas)."""
        if isinstance(node, Value):
            return node.text
        rule = self.rule_for_op(node.op)
        children = iter(node.children)
        parts = []
        for piece in rule.template:
            if piece is None:
                parts.append(self.render(next(children)))
            else:
                parts.append(", " if piece == "," else piece)
        return "".join(parts)

    def parse(self, text: str) -> Architecture:
        """Parse a canonical (or hand-written) string; ArchitectureError with a caret."""
        text = text.strip()
        if not text:
            raise ArchitectureError("empty architecture string")
        check_nesting(text)
        if len(text) > MAX_LENGTH:
            raise ArchitectureError(f"the architecture string is {len(text):,} characters "
                                    f"long, over the limit of {MAX_LENGTH:,} (sampled ones are "
                                    "well under 2,000): is it one architecture?")
        try:
            tree = self.parser.parse(text)
            root = self._to_node(tree)
        except UnexpectedInput as exc:
            raise ArchitectureError(_parse_error_message(exc, text, self)) from None
        except LarkError as exc:
            raise ArchitectureError(f"cannot parse architecture: {exc}") from None
        except RecursionError:  # a grammar nesting without brackets, past the pre-scan
            raise ArchitectureError(_too_deep("the architecture", MAX_NESTING)) from None
        if not isinstance(root, Node):
            raise ArchitectureError("an architecture must be an op, not a bare value")
        return Architecture(root, self.render(root), self.name)

    def architecture(self, root: Node) -> Architecture:
        """Wrap a tree as an Architecture with its canonical string."""
        return Architecture(root, self.render(root), self.name)

    def _to_node(self, tree: Tree) -> Node | Value:
        rule = str(tree.data)
        subtrees = [c for c in tree.children if isinstance(c, Tree)]
        if rule in self.values:
            token = next(c for c in tree.children if isinstance(c, Token))
            return Value(rule, str(token))
        if rule in self.nodes:
            return Node(self.nodes[rule].op, tuple(self._to_node(t) for t in subtrees))
        return self._to_node(subtrees[0])  # a choice rule: its one alternative


def check_nesting(text: str, limit: int = MAX_NESTING) -> None:
    """ArchitectureError if brackets in ``text`` nest deeper than ``limit``.

    A linear scan, run before lark parses the string: a hostile string of a few hundred
    levels is refused at once instead of failing with RecursionError after seconds.
    """
    depth = deepest = 0
    for char in text:
        if char in _OPENERS:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif char in _CLOSERS:
            depth -= 1
    if deepest > limit:
        raise ArchitectureError(_too_deep("the architecture string", limit))


def _too_deep(what: str, limit: int) -> str:
    return (f"{what} nests more than {limit} levels deep, the limit (sampled architectures "
            f"stay within depth 10); write it with less nesting")


_EXPECTED_SHOWN = 12  # alternatives listed in a parse error before "and N more"


def _parse_error_message(exc: UnexpectedInput, text: str, grammar: Grammar) -> str:
    names = getattr(exc, "expected", None) or getattr(exc, "allowed", None) or []
    expected = sorted({repr(grammar.literals.get(n, n)) for n in names})
    shown = ", ".join(expected[:_EXPECTED_SHOWN])
    if len(expected) > _EXPECTED_SHOWN:
        shown += f" and {len(expected) - _EXPECTED_SHOWN} more"
    hint = f"; expected one of: {shown}" if expected else ""
    line, column = exc.line, exc.column
    if line < 1:  # unexpected end of input: point just past the text
        line, column = text.count("\n") + 1, len(text.rsplit("\n", 1)[-1]) + 1
        context = f"{text}\n{' ' * (column - 1)}^"
        hint = f"; the string ended early{hint}"
    else:
        context = exc.get_context(text, span=40).rstrip("\n")
    return (f"invalid architecture for grammar {grammar.name!r} at line {line}, "
            f"column {column}{hint}\n{context}")


# --- loading ----------------------------------------------------------------------------


def builtin_dir() -> Path:
    """Directory of the built-in grammar files (works from an installed wheel)."""
    return Path(str(resources.files("grammars")))


def list_builtin() -> list[str]:
    """Names of the built-in grammars."""
    return sorted(p.stem for p in builtin_dir().glob("*.lark"))


def load_grammar(name_or_path: str | Path) -> Grammar:
    """Load a built-in grammar by name, or a ``.lark`` file by path.

    Raises:
        GrammarError: unknown name, unreadable file, lark syntax error, or a rule that
            is neither a registered op, a value rule nor a choice rule.
    """
    path = _resolve(name_or_path)
    text = read_text(path, "grammar file", GrammarError)
    try:
        parser = Lark(text, start="start", parser="earley", keep_all_tokens=True,
                      import_paths=[path.parent, builtin_dir()], source_path=str(path))
    except UnexpectedInput as exc:
        raise GrammarError(f"{path}: line {exc.line}, column {exc.column}: lark cannot read "
                           f"this grammar\n{exc.get_context(text).rstrip()}") from None
    except (LarkError, OSError, RecursionError) as exc:
        raise GrammarError(_grammar_error_message(exc, path, text)) from None
    return _classify(path.stem, text, str(path), parser)


_AT_LINE = re.compile(r"^(.*?),?\s+at line (\d+) column (\d+)(?: in \S+)?\s*:?\s*$")
_UNDEFINED = re.compile(r"NonTerminal\('(\w+)'\)")


def _grammar_error_message(exc: BaseException, path: Path, text: str) -> str:
    """lark's error on a grammar file, as one line (plus a caret context when lark gave
    a position) in this platform's words: no internal names, no dangling colon."""
    if isinstance(exc, RecursionError):
        return f"{path}: the grammar's rules nest too deeply for lark to read"
    if isinstance(exc, FileNotFoundError):
        return (f"{path}: %import cannot find {Path(exc.filename or '?').name} (looked next "
                f"to {path.name} and among the built-in grammars {', '.join(list_builtin())})")
    lines = [line.rstrip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    undefined = _UNDEFINED.search(first)
    if undefined and undefined.group(1) == "start":
        if not any(line.strip() and not line.lstrip().startswith("//")
                   for line in text.splitlines()):
            return f"{path} holds no rules: a grammar needs at least a `start` rule"
        return (f"{path} has no `start` rule (the rule every architecture derives from); "
                "add one, e.g. start: sequential | branching | routing")
    if undefined:
        return f"{path}: rule {undefined.group(1)!r} is used but never defined"
    at = _AT_LINE.match(first)
    if at:
        what, line, column = at.group(1).rstrip(" :"), at.group(2), at.group(3)
        context = "\n".join(lines[1:])
        return (f"{path}: line {line}, column {column}: lark cannot read this grammar "
                f"({what[0].lower() + what[1:]})" + (f"\n{context}" if context else ""))
    return f"{path}: {first.rstrip(' :')}"


def _resolve(name_or_path: str | Path) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".lark" or candidate.exists():
        return input_file(candidate, "grammar file", GrammarError)
    builtin = builtin_dir() / f"{name_or_path}.lark"
    if builtin.exists():
        return builtin
    raise GrammarError(f"unknown grammar {str(name_or_path)!r}: built-in grammars are "
                       f"{', '.join(list_builtin())}, or pass a path to a .lark file")


def _op_name(rule: str) -> str:
    return rule.rsplit("__", 1)[-1]


def _classify(name: str, text: str, source: str, parser: Lark) -> Grammar:
    literal = {t.name: t.pattern.value for t in parser.terminals
               if isinstance(t.pattern, PatternStr)}
    expansions: dict[str, list[list]] = {}
    for rule in parser.rules:
        expansions.setdefault(str(rule.origin.name), []).append(list(rule.expansion))
    nodes, choices, values = {}, {}, {}
    for rule, alts in expansions.items():
        if is_registered(_op_name(rule)) and not rule.startswith("_"):
            nodes[rule] = _node_rule(rule, alts, literal, source)
        elif all(len(a) == 1 and a[0].is_term and a[0].name in literal for a in alts):
            values[rule] = tuple(literal[a[0].name] for a in alts)
        elif all(len(a) == 1 and not a[0].is_term for a in alts):
            choices[rule] = tuple(str(a[0].name) for a in alts)
        else:
            raise GrammarError(
                f"{source}: rule {rule!r} is not a registered op, nor a choice between rules, "
                f"nor a list of literal values; name it after an op (see `nas grammars --ops`) "
                f"or split it")
    grammar = Grammar(name, text, source, nodes, choices, values,
                      _probabilities(text, source, choices), parser)
    grammar.literals = literal
    grammar.references = _references(text)
    for rule, node in nodes.items():
        first = nodes[grammar.op_rule.setdefault(node.op, rule)]
        if node.template != first.template:
            raise GrammarError(f"{source}: rules {first.rule!r} and {rule!r} are both op "
                               f"{node.op!r} but print differently; make their literals equal")
    _validate(grammar)
    return grammar


def _node_rule(rule: str, alts: list[list], literal: dict[str, str], source: str) -> NodeRule:
    if len(alts) != 1:
        raise GrammarError(f"{source}: op rule {rule!r} must have exactly one expansion "
                           f"(put alternatives in a choice rule)")
    template, slots = [], []
    for sym in alts[0]:
        if sym.is_term:
            if sym.name not in literal:
                raise GrammarError(f"{source}: op rule {rule!r} uses a regular-expression "
                                   f"terminal {sym.name}; use string literals")
            template.append(literal[sym.name])
        else:
            template.append(None)
            slots.append(str(sym.name))
    op = _op_name(rule)
    return NodeRule(rule, op, tuple(slots), tuple(template), get_op(op).kind not in STRUCTURES)


def _probabilities(text: str, source: str, choices: dict) -> dict[str, dict[str, float]]:
    probs: dict[str, dict[str, float]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not _DIRECTIVE.match(line) or _REFERENCE.match(line):
            continue
        match = _PROB.match(line)
        if not match:
            raise GrammarError(f"{source}:{lineno}: cannot read directive {line.strip()!r}; "
                               f"write //@ p(rule -> alternative) = 0.32 "
                               f"or //@ reference NAME 1x8x8: ARCHITECTURE")
        rule, alt, p = match.group(1), match.group(2), float(match.group(3))
        if rule not in choices or alt not in choices[rule]:
            raise GrammarError(f"{source}:{lineno}: {alt!r} is not an alternative of choice "
                               f"rule {rule!r}")
        if not 0.0 <= p <= 1.0:
            raise GrammarError(f"{source}:{lineno}: probability {p} is outside [0, 1]")
        probs.setdefault(rule, {})[alt] = p
    for rule, table in probs.items():
        if sum(table.values()) > 1.0 + 1e-9:
            raise GrammarError(f"{source}: probabilities for {rule!r} sum to more than 1")
    return probs


def _references(text: str) -> dict[str, tuple[tuple[int, ...], str]]:
    """``//@ reference NAME SHAPE: ARCH`` lines: hand-written architectures of the space."""
    found = {}
    for line in text.splitlines():
        match = _REFERENCE.match(line)
        if match:
            shape = tuple(int(d) for d in match.group(2).split("x"))
            found[match.group(1)] = (shape, match.group(3))
    return found


def _validate(grammar: Grammar) -> None:
    if "start" not in grammar.nodes and "start" not in grammar.choices:
        raise GrammarError(f"{grammar.source}: the `start` rule must be an op rule or a choice "
                           "between rules (e.g. start: sequential | branching | routing)")
    for rule, node in grammar.nodes.items():
        leaf = node.is_leaf
        for slot in node.slots:
            if leaf and slot not in grammar.values:
                raise GrammarError(f"{grammar.source}: leaf op rule {rule!r} may only have "
                                   f"value slots, but {slot!r} is not a value rule")
            if not leaf and slot in grammar.values:
                raise GrammarError(f"{grammar.source}: structure {rule!r} cannot take value "
                                   f"slot {slot!r}")
    for rule, size in grammar.min_size.items():
        if size >= _INF:
            raise GrammarError(f"{grammar.source}: rule {rule!r} can never finish a derivation")


_INF = 10**9


def _fixpoint(grammar: Grammar, node_cost, combine_choice) -> dict[str, int]:
    cost = {r: 0 for r in grammar.values}
    cost.update({r: _INF for r in list(grammar.nodes) + list(grammar.choices)})
    changed = True
    while changed:
        changed = False
        for rule, node in grammar.nodes.items():
            new = min(_INF, node_cost([cost.get(s, _INF) for s in node.slots]))
            if new < cost[rule]:
                cost[rule], changed = new, True
        for rule, alts in grammar.choices.items():
            new = combine_choice(cost.get(a, _INF) for a in alts)
            if new < cost[rule]:
                cost[rule], changed = new, True
    return cost
