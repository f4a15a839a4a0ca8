"""Fuzz: architecture strings, grammar files and command lines (issue 14).

For every generated case: either a valid result (an architecture that round-trips, a
grammar that samples, a command that exits 0/1) or a clean error (a NasError with one
line, exit 2 with one line), never another exception, a traceback or an 'unexpected'.
"""

from __future__ import annotations

import contextlib

import pytest
from fuzzing import fuzz_settings, mutated
from hostile_cli import assert_clean_cli, assert_clean_message, run_cli
from hypothesis import event, given
from hypothesis import strategies as st

from nas.errors import ArchitectureError, GrammarError, NasError
from nas.grammar import builtin_dir, load_grammar
from nas.space import Space, load_space

pytestmark = pytest.mark.slow

SPACE = load_space("einspace")
SHAPES = [(1, 8, 8), (40, 1), (13,), (3, 4, 4)]
SAMPLED = [str(SPACE.sample(SHAPES[i % 3], seed=i)) for i in range(24)]
LITERALS = sorted(set(SPACE.grammar.literals.values()))


def _wrapped(text: str, levels: int) -> str:
    for _ in range(levels):
        text = f"sequential({text}, relu)"
    return text


architecture_text = st.one_of(
    # sampled architectures with byte-level edits (brackets, commas, NUL, bad UTF-8...)
    st.builds(lambda b: b.decode("utf-8", "replace"),
              st.sampled_from(SAMPLED).flatmap(lambda s: mutated(s.encode()))),
    # token soup from the grammar's own literals: gets deep into the parser
    st.lists(st.sampled_from([*LITERALS, ",", ", ", " ", "(", ")"]), max_size=30)
    .map("".join),
    # deep nesting around the limit
    st.tuples(st.sampled_from(SAMPLED), st.integers(0, 90)).map(lambda t: _wrapped(*t)),
    st.text(max_size=40),
)


@fuzz_settings(700)
@given(text=architecture_text, shape=st.sampled_from(SHAPES))
def test_fuzz_architecture_strings(text, shape):
    try:
        arch = SPACE.parse(text)
    except ArchitectureError as exc:
        assert_clean_message(exc)
        event("parse error")
        return
    assert SPACE.parse(str(arch)) == arch  # a parsed string round-trips
    try:
        typed = SPACE.check(arch, shape)
    except ArchitectureError as exc:
        assert_clean_message(exc)
        event("type error")
        return
    assert typed.nodes == arch.nodes and typed.params >= 0
    event("valid architecture")


@fuzz_settings(80)
@given(text=architecture_text)
def test_fuzz_validate_command(text):
    outcome = run_cli("validate", "--", text)
    event(f"exit {outcome.code}")
    assert_clean_cli(outcome, allowed=(0, 1))
    assert outcome.out.startswith("valid: ") or outcome.err.startswith("invalid: ")


GRAMMARS = {name: (builtin_dir() / f"{name}.lark").read_bytes()
            for name in ("ffn", "kan", "versatileffn", "metamixer")}


@fuzz_settings(120)
@given(source=st.sampled_from(sorted(GRAMMARS)).flatmap(
    lambda name: mutated(GRAMMARS[name], max_edits=3)), seed=st.integers(0, 3))
def test_fuzz_grammar_files(tmp_path_factory, source, seed):
    path = tmp_path_factory.mktemp("grammar") / "mine.lark"
    path.write_bytes(source)
    try:
        grammar = load_grammar(path)
    except GrammarError as exc:
        assert_clean_message(exc)
        event("grammar refused")
        return
    space = Space(grammar)
    try:
        arch = space.sample((13,), seed=seed)
    except NasError as exc:  # a grammar can be valid and still not derive for a shape
        assert_clean_message(exc)
        event("grammar loads, no derivation")
        return
    assert space.parse(str(arch)) == arch
    event("grammar samples")


COMMANDS = [["sample"], ["validate"], ["grammars"], ["tasks"], ["bench", "ls"],
            ["bench", "stats"], ["bench", "show"], ["status"], ["leaderboard"]]
OPTIONS = ["-n", "--seed", "--grammar", "-g", "--input-shape", "-s", "--json", "--task",
           "--classes", "--max-nodes", "--max-params", "--limits", "--store", "--sort",
           "--limit", "--run", "--study", "--ops", "--bogus", "--", "-", "--format"]
VALUES = ["0", "-1", "2", "abc", "1.5", "", "einspace", "kan", "nope", "1x8x8", "0x3",
          "x", "13", "digits", "iris", "nope.csv", "sequential(relu, norm)", "bogus(",
          "runs", "val_score", "json", "é", "a" * 300]


@fuzz_settings(180)
@given(command=st.sampled_from(COMMANDS),
       rest=st.lists(st.sampled_from(OPTIONS + VALUES), max_size=6))
def test_fuzz_command_lines(tmp_path_factory, command, rest):
    with contextlib.chdir(tmp_path_factory.mktemp("cwd")):
        outcome = run_cli(*command, *rest)
    event(f"exit {outcome.code}")
    assert_clean_cli(outcome)
