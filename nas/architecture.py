"""Architectures as immutable plain data: a derivation tree with a canonical string.

A tree has two kinds of vertices. A :class:`Node` is an op of the registry (a computation,
a branching function, an aggregation, a routing function, or a structure such as
``sequential``); its children are further nodes and :class:`Value` leaves (a literal
chosen from a value rule of the grammar, e.g. a width ``64``). Choice rules of the grammar
(``module``, ``computation``...) leave no trace in the tree: they only choose.

The canonical string is produced by the grammar's print templates (see
:mod:`nas.grammar`), so :class:`Architecture` keeps it next to the tree; the id is a
short hash of that string. Nothing here holds torch objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True)
class Value:
    """A literal chosen from a value rule: ``text`` as written, ``value`` parsed."""

    rule: str
    text: str

    @property
    def value(self) -> int | float | str | tuple[int, ...]:
        """The literal parsed: ints, floats, tuples of ints (``"3,1,1"``) or the text."""
        return parse_literal(self.text)


@dataclass(frozen=True)
class Node:
    """One op of the registry with its children (nodes and values) in slot order."""

    op: str
    children: tuple[Node | Value, ...] = ()

    @property
    def args(self) -> tuple:
        """The parsed values among the children, in order."""
        return tuple(c.value for c in self.children if isinstance(c, Value))

    @property
    def subnodes(self) -> tuple[Node, ...]:
        """The node children, in order."""
        return tuple(c for c in self.children if isinstance(c, Node))

    def walk(self, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Node]]:
        """Yield ``(path, node)`` for this node and every node below it, pre-order.

        A path is the sequence of child indices (into ``children``) from the root.
        """
        yield path, self
        for i, child in enumerate(self.children):
            if isinstance(child, Node):
                yield from child.walk(path + (i,))

    def at(self, path: tuple[int, ...]) -> Node:
        """The node at ``path``."""
        node = self
        for i in path:
            node = node.children[i]  # type: ignore[assignment]
        return node

    def replace(self, path: tuple[int, ...], new: Node) -> Node:
        """A copy of this tree with the node at ``path`` replaced by ``new``."""
        if not path:
            return new
        head, rest = path[0], path[1:]
        child = self.children[head]
        assert isinstance(child, Node)
        children = list(self.children)
        children[head] = child.replace(rest, new)
        return Node(self.op, tuple(children))

    def size(self) -> int:
        """Number of nodes (values not counted)."""
        return sum(1 for _ in self.walk())

    def depth(self) -> int:
        """Depth of the tree in nodes (a single node has depth 1)."""
        return 1 + max((c.depth() for c in self.subnodes), default=0)


@dataclass(frozen=True)
class Architecture:
    """An immutable architecture: its tree, canonical string and grammar name.

    ``str(arch)`` is the canonical string; ``arch.id`` a 12-hex sha256 of it. Two
    architectures are equal when their trees are equal.
    """

    root: Node
    text: str = field(compare=False)
    grammar: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.text

    @property
    def id(self) -> str:
        """Stable short id: the first 12 hex digits of sha256(canonical string)."""
        return arch_id(self.text)

    @property
    def nodes(self) -> int:
        """Number of op nodes in the tree."""
        return self.root.size()

    @property
    def depth(self) -> int:
        """Depth of the tree."""
        return self.root.depth()


def arch_id(text: str) -> str:
    """The id of a canonical architecture string."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@lru_cache(maxsize=4096)
def parse_literal(text: str) -> int | float | str | tuple[int, ...]:
    """Parse a value literal: ``"64"`` -> 64, ``"0.5"`` -> 0.5, ``"3,1,1"`` -> (3, 1, 1)."""
    if "," in text:
        return tuple(int(part) for part in text.split(","))
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text
