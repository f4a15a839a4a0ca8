"""The one-line helpers of nas.errors and nas.durations."""

from __future__ import annotations

import math

import pytest

from nas.durations import format_duration
from nas.errors import OptionError, first_line


@pytest.mark.parametrize("exc, line", [
    (RuntimeError("\n\n  CUDA out of memory.  \nTried to allocate"), "CUDA out of memory."),
    (ValueError(""), "ValueError"), (OSError("  \n "), "OSError"),
    (RuntimeError("x" * 1000), "x" * 400),
])
def test_first_line(exc, line):
    assert first_line(exc) == line


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (12.4, "12s"), (59.6, "1m00s"), (185, "3m05s"), (3720, "1h02m"),
    (None, "?"), (math.nan, "?"), (math.inf, "?"),
])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_option_errors_spell_fields_as_asked():
    exc = OptionError("{budget} must be at least 1", "{a} and {b} " + "'{{x}}'")
    assert exc.fields == ("budget", "a", "b")
    assert str(exc) == "budget must be at least 1; a and b '{x}'"
    assert str(exc.renamed({"budget": "--budget", "a": "-A"})) == \
        "--budget must be at least 1; -A and b '{x}'"
