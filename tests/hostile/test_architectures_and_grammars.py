"""Deep architecture strings and broken grammars: a clear line, quickly (issue 14)."""

import time

import pytest
from hostile_cli import assert_clean_error, run_cli

from nas.errors import ArchitectureError, GrammarError
from nas.grammar import MAX_LENGTH, MAX_NESTING, check_nesting, load_grammar
from nas.space import load_space


def nested(levels: int, leaf: str = "norm") -> str:
    text = leaf
    for _ in range(levels):
        text = f"sequential({text}, relu)"
    return text


@pytest.mark.parametrize("levels", [MAX_NESTING + 1, 300, 5000])
def test_too_deep_strings_are_refused_before_parsing(levels):
    started = time.perf_counter()
    outcome = run_cli("validate", nested(levels))
    assert time.perf_counter() - started < 2.0
    assert outcome.code == 1 and "RecursionError" not in outcome.err
    assert f"nests more than {MAX_NESTING} levels deep" in outcome.err
    assert_clean_error(run_cli("export", nested(levels), "-o", "unused.onnx"),
                       f"more than {MAX_NESTING} levels")


def test_the_deepest_allowed_string_parses_types_and_exports(tmp_path):
    """Every stage handles the limit: parse, type-check, build and ONNX export."""
    text = nested(MAX_NESTING)
    outcome = run_cli("validate", text)
    assert outcome.code == 0 and f"depth={MAX_NESTING + 1}" in outcome.out
    assert "outside the sampling limits: nodes 129 > 48, depth 65 > 10" in outcome.out
    out = tmp_path / "deep.onnx"
    outcome = run_cli("export", text, "-o", out)
    assert outcome.code == 0, outcome.err
    assert out.stat().st_size > 0


def test_overlong_strings_are_refused_before_parsing():
    started = time.perf_counter()
    text = "sequential(" + "relu, " * (MAX_LENGTH // 6) + "relu)"
    with pytest.raises(ArchitectureError, match="characters long, over the limit of 65,536"):
        load_space("einspace").parse(text)
    assert time.perf_counter() - started < 1.0


def test_nesting_prescan_counts_every_bracket_kind():
    check_nesting("(" * 64 + ")" * 64)
    with pytest.raises(ArchitectureError, match="more than 3 levels"):
        check_nesting("a([{(b)}])", limit=3)
    check_nesting(")))(((", limit=3)  # unbalanced: lark reports it, with a caret


def test_validate_reports_and_optionally_requires_the_sampling_limits():
    small, large = "sequential(linear(64), relu)", nested(20)
    assert "outside" not in run_cli("validate", small).out
    assert "outside the sampling limits: nodes 41 > 48" not in run_cli("validate", large).out
    assert "depth 21 > 10" in run_cli("validate", large).out
    refused = run_cli("validate", large, "--limits")
    assert refused.code == 1 and "exceeds the sampling limits: depth 21 > 10" in refused.err
    refused = run_cli("validate", small, "--limits", "--max-params", "10")
    assert refused.code == 1 and "params 576 > 10" in refused.err


def test_a_long_expected_list_says_how_many_are_left_out():
    with pytest.raises(ArchitectureError) as info:
        load_space("einspace").parse("sequential(identity, foo)")
    assert "expected one of: 'alphadropout'" in str(info.value)
    assert " more\n" in str(info.value) and "column 22" in str(info.value)


@pytest.mark.parametrize("text, fragments", [
    ("", ["holds no rules", "start"]),
    ("// a comment only\n", ["holds no rules"]),
    ('module: identity\nidentity: "identity"\n', ["has no `start` rule", "start: sequential"]),
    ('start: "("\n', ["`start` rule must be an op rule or a choice"]),
    ('start: sequential\nsequential: "sequential(" start ","\n  | ???\n',
     ["line 3, column 5", "(expecting a value)\n", "^"]),
    ('start: linear\nlinear: "linear(" width ")\nwidth: "16"\n',
     ["line 2, column 25", "(unexpected input)\n"]),
    ("start: nowhere\n", ["'nowhere' used but not defined"]),
    ("%import .nothere (linear)\nstart: linear\n", ["%import cannot find nothere.lark"]),
])
def test_broken_grammars_say_what_and_where(tmp_path, text, fragments):
    path = tmp_path / "mine.lark"
    path.write_text(text)
    with pytest.raises(GrammarError) as info:
        load_grammar(path)
    message = str(info.value)
    assert "NonTerminal" not in message and not message.splitlines()[0].endswith(":")
    for fragment in fragments:
        assert fragment in message, (fragment, message)
