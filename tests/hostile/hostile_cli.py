"""Hostile inputs: the CLI run in-process, and what a clean failure looks like."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from nas.cli import run_app


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_cli(*args: str) -> Outcome:
    """``nas ARGS`` in this process (much faster than a subprocess): exit code and output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_app([str(a) for a in args])
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_clean_error(outcome: Outcome, *fragments: str) -> None:
    """A user error: exit 2, one ``error:`` line naming what is wrong, no traceback."""
    lines = outcome.err.strip().splitlines()
    assert outcome.code == 2, outcome
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.err
    assert "Traceback" not in outcome.err and "unexpected" not in outcome.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
