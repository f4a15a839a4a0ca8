"""Usage mistakes exit 2 with click's usage line and the option named (issue 14)."""

import pytest
from hostile_cli import run_cli


@pytest.mark.parametrize("args, named", [
    (("sample", "-n", "abc"), "Invalid value for '-n'"),
    (("sample", "--seed", "1.5"), "Invalid value for '--seed'"),
    (("sample", "--bogus"), "No such option: --bogus"),
    (("export", "identity"), "Missing option '--out'"),
    (("bench", "import"), "Missing argument 'scores'"),
    (("status", "--stale-after", "soon"), "Invalid value for '--stale-after'"),
    (("no-such-command",), "No such command 'no-such-command'"),
])
def test_usage_errors_exit_2_with_the_usage_line(args, named):
    outcome = run_cli(*args)
    assert outcome.code == 2
    lines = outcome.err.strip().splitlines()
    assert lines[0].startswith(f"Usage: nas {args[0]}" if args[0] != "no-such-command"
                               else "Usage: nas ")
    assert lines[-1].startswith("Error: ") and named in lines[-1]
    assert "unexpected" not in outcome.err and "Traceback" not in outcome.err


@pytest.mark.parametrize("args, message", [
    (("sample", "--classes", "1"), "--classes must be at least 2, got 1"),
    (("sample", "--classes", "-1"), "--classes must be at least 2"),
    (("sample", "--max-nodes", "0"), "--max-nodes must be at least 1"),
    (("validate", "--limits", "--max-params", "-5", "identity"), "--max-params must be"),
])
def test_out_of_range_numbers_are_user_errors(args, message):
    outcome = run_cli(*args)
    assert outcome.code == 2 and outcome.err.strip() == f"error: {message}" or (
        outcome.code == 2 and message in outcome.err and len(outcome.err.splitlines()) == 1)
