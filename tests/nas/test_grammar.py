"""Grammar loading: classification of rules, probabilities, references, errors."""

from pathlib import Path

import pytest

from nas.errors import ArchitectureError, GrammarError
from nas.grammar import list_builtin, load_grammar
from nas.ops import is_registered
from nas.space import Space, load_space

BUILTIN = ["einspace", "ffn", "kan", "metamixer", "ptrnet", "versatileffn"]


def test_builtin_grammars_are_listed():
    assert list_builtin() == BUILTIN


@pytest.mark.parametrize("name", BUILTIN)
def test_every_grammar_op_is_registered(name):
    grammar = load_grammar(name)
    assert grammar.nodes, "a grammar without ops"
    for rule in grammar.nodes.values():
        assert is_registered(rule.op), rule


@pytest.mark.parametrize("name", BUILTIN)
def test_every_rule_can_finish(name):
    grammar = load_grammar(name)
    assert all(size < 10**6 for size in grammar.min_size.values())
    assert grammar.min_size["start"] >= 1


def test_einspace_probability_directive_is_read():
    grammar = load_grammar("einspace")
    assert grammar.probs == {"module": {"computation": 0.32}}
    assert set(grammar.choices["module"]) == {"sequential", "branching", "routing",
                                              "computation"}
    assert set(grammar.choices["start"]) == {"sequential", "branching", "routing"}


def test_grammar_hash_is_stable_and_semantic(tmp_path):
    text = load_grammar("einspace").text
    copy = tmp_path / "copy.lark"
    copy.write_text("// a comment changes nothing\n" + text)
    assert load_grammar(copy).hash == load_grammar("einspace").hash
    changed = tmp_path / "changed.lark"
    changed.write_text(text.replace("//@ p(module -> computation) = 0.32",
                                    "//@ p(module -> computation) = 0.5"))
    assert load_grammar(changed).hash != load_grammar("einspace").hash


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.lark"
    path.write_text(text)
    return path


MINI = """
//@ p(module -> relu) = 0.8
start: sequential
sequential: "sequential(" module "," module ")"
module: relu | linear
relu: "relu"
linear: "linear(" width ")"
width: "4" | "8"
%import common.WS
%ignore WS
"""


def test_user_grammar_from_a_path(tmp_path):
    space = Space(load_grammar(_write(tmp_path, MINI)))
    arch = space.sample((3,), seed=1)
    assert str(arch).startswith("sequential(")
    assert space.parse(str(arch)) == arch


def test_fixed_probability_is_honoured(tmp_path):
    space = Space(load_grammar(_write(tmp_path, MINI)))
    picks = [space.sample((3,), seed=i).root.children[0].op for i in range(2000)]
    share = picks.count("relu") / len(picks)
    assert 0.76 < share < 0.84


def test_user_grammar_may_import_einspace_rules(tmp_path):
    text = """
start: sequential
sequential: "sequential(" layer "," layer ")"
layer: linear | gelu
%import .einspace (linear, gelu)
%import common.WS
%ignore WS
"""
    space = Space(load_grammar(_write(tmp_path, text)))
    arch = space.parse("sequential(linear(64), gelu)")
    assert space.check(arch, (5,)).output_shape == (64,)


@pytest.mark.parametrize("text, message", [
    ("start: sequential(\n", "line"),  # lark syntax error
    ("start: foo\nfoo: bar baz\nbar: \"x\"\nbaz: \"y\"\n", "not a registered op"),
    (MINI.replace("//@ p(module -> relu) = 0.8", "//@ p(module -> tanh) = 0.8"),
     "not an alternative"),
    (MINI.replace("//@ p(module -> relu) = 0.8", "//@ probability of relu is high"),
     "cannot read directive"),
    (MINI.replace("start: sequential", "begin: sequential"), "start"),
    (MINI.replace('relu: "relu"', 'relu: "relu" | "RELU"'), "exactly one expansion"),
])
def test_bad_grammars_fail_with_one_clear_error(tmp_path, text, message):
    with pytest.raises(GrammarError, match=message):
        load_grammar(_write(tmp_path, text))


def test_unknown_grammar_lists_the_builtin_ones():
    with pytest.raises(GrammarError, match="einspace, ffn"):
        load_grammar("no-such-space")


def test_missing_grammar_file():
    with pytest.raises(GrammarError, match="does not exist"):
        load_grammar("/nonexistent/space.lark")


@pytest.mark.parametrize("text, where", [
    ("sequential(relu, norm", "column 22"),
    ("sequential(relu, linear(65))", "column 25"),
    ("sequential(relu, conv9(3))", "column 18"),
    ("", "empty"),
])
def test_malformed_architecture_strings_report_line_column_and_caret(text, where):
    space = load_space("einspace")
    with pytest.raises(ArchitectureError, match=where) as info:
        space.parse(text)
    if text:
        assert "^" in str(info.value) and "line 1" in str(info.value)


@pytest.mark.parametrize("text, shape, why", [
    ("sequential(relu, routing(permute(2,1), linear(8), identity))", (1, 8, 8),
     "permute"),
    ("routing(identity, linear(16), col2im)", (1, 8, 8), "col2im"),
    ("branch2(clone, linear(16), linear(32), add)", (8,), "add"),
    ("sequential(relu, dwconv(11))", (1, 8, 8), "dwconv"),
])
def test_ill_typed_architectures_name_the_op(text, shape, why):
    space = load_space("einspace")
    with pytest.raises(ArchitectureError, match=why):
        space.check(space.parse(text), shape)
