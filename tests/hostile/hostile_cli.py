"""Hostile inputs: the CLI run in-process, and what a clean failure looks like."""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass

from nas.cli import run_app


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_cli(*args: str, stdin: str = "") -> Outcome:
    """``nas ARGS`` in this process (much faster than a subprocess): exit code and output."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run_app([str(a) for a in args])
    finally:
        sys.stdin = saved
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_clean_error(outcome: Outcome, *fragments: str) -> None:
    """A user error: exit 2, one ``error:`` line naming what is wrong, no traceback."""
    lines = outcome.err.strip().splitlines()
    assert outcome.code == 2, outcome
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.err
    assert "Traceback" not in outcome.err and "unexpected" not in outcome.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def assert_clean_cli(outcome: Outcome, allowed=(0, 1, 2)) -> None:
    """Whatever the input: an expected exit code, never a traceback or an 'unexpected'
    error; a failure (exit 2) is one ``error:`` line or click's usage block."""
    assert outcome.code in allowed, outcome
    assert "Traceback" not in outcome.err and "error: unexpected" not in outcome.err, outcome.err
    if outcome.code == 2:
        lines = outcome.err.strip().splitlines()
        usage = bool(lines) and lines[0].startswith("Usage: nas")
        assert usage or (lines and lines[0].startswith("error: ")), outcome.err
        if lines and lines[0].startswith("error: ") and "^" not in outcome.err:
            assert len(lines) == 1, outcome.err


def assert_clean_message(exc: BaseException) -> None:
    """A NasError's text: says something, on one line (plus an optional caret context),
    without internal names."""
    text = str(exc)
    first = text.splitlines()[0] if text else ""
    assert first.strip(), type(exc)
    assert not first.rstrip().endswith(":"), text
    for internal in ("Traceback", "NonTerminal(", "RecursionError", "<object"):
        assert internal not in text, text
    extra = text.splitlines()[1:]
    assert not extra or any("^" in line for line in extra), text
