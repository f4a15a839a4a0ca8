"""Failures that must come quickly and name the right thing (issue 14)."""

import json
import socket
import time

import pytest
from hostile_cli import assert_clean_error, run_cli
from sqlalchemy.exc import OperationalError

from bench.storage import REFUSED_BUDGET_S, failure_kind, open_storage, with_retry
from nas.errors import StorageError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url, fragment", [
    (f"postgresql://u@127.0.0.1:{_closed_port()}/db", "Connection refused"),
    ("postgresql://u@no-such-host.invalid/db", "could not translate host name"),
    ("postgresql://u@127.0.0.1:1/db?sslmode=bogus", "invalid sslmode"),
])
def test_unreachable_databases_are_reported_within_seconds(url, fragment):
    started = time.monotonic()
    with pytest.raises(StorageError, match=fragment):
        open_storage(url)
    assert time.monotonic() - started < REFUSED_BUDGET_S + 2.0


def test_only_what_can_pass_is_retried():
    def error(text):
        return OperationalError("connect", {}, Exception(text))

    assert failure_kind(error("FATAL:  the database system is starting up")) == "transient"
    assert failure_kind(error("database is locked")) == "transient"
    assert failure_kind(error("server closed the connection unexpectedly")) == "transient"
    assert failure_kind(error('port 5 failed: Connection refused')) == "refused"
    for text in ('password authentication failed for user "u"', 'role "x" does not exist',
                 'could not translate host name "h" to address', 'database "d" does not exist'):
        assert failure_kind(error(text)) == "permanent", text
    calls = []

    def starting_then_up():
        calls.append(1)
        if len(calls) < 4:
            raise error("the database system is starting up")
        return "ok"

    assert with_retry(starting_then_up, "connect", delays=(0.01,) * 5) == "ok"
    refused = []
    with pytest.raises(StorageError, match="still refused after"):
        with_retry(lambda: refused.append(1) or (_ for _ in ()).throw(error("Connection "
                   "refused")), "connect", delays=(0.9, 0.9, 0.9, 0.9))
    assert len(refused) == 3  # 0.9 + 0.9 s of waiting, then the budget is spent


def test_status_names_the_missing_run_and_lists_the_others(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, study in (("a", "a"), ("custom", "foo")):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "run.json").write_text(json.dumps({"study": study}))
    for command in ("status", "leaderboard"):
        assert_clean_error(run_cli(command, "--study", "nothere"),
                           "no run of study 'nothere'", "runs there: a, custom")
    # a study found through its run.json, not through another run's files
    assert_clean_error(run_cli("status", "--study", "foo"), "runs/custom/study.journal")
