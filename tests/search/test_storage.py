"""Storages: every form opens, bad ones fail with one clear line, transient failures retry."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy.exc import OperationalError

from bench.storage import (
    is_transient,
    open_storage,
    redact,
    retry_delays,
    storage_kind,
    with_retry,
    without_password,
)
from nas.errors import StorageError
from nas.search.study import SearchStudy


@pytest.mark.parametrize("name", ["study.journal", "study.db", "sqlite"])
def test_each_file_storage_holds_a_study_and_reopens(tmp_path, name):
    spec = f"sqlite:///{tmp_path}/s.sqlite" if name == "sqlite" else str(tmp_path / name)
    study = SearchStudy.open(spec, "a", direction="minimize", identity={"task": "wine"})
    trial_id, number = study.create_trial()
    study.finish(trial_id, "COMPLETE", 1.5)
    again = SearchStudy.open(spec, "a", create=False)
    assert not again.maximize and again.history().records[0].value == 1.5
    assert again.user_attrs()["task"] == "wine"


def test_a_study_belongs_to_one_task(journal):
    SearchStudy.open(journal, "a", direction="maximize", identity={"task": "wine"})
    with pytest.raises(StorageError, match="created with other settings: task wine -> digits"):
        SearchStudy.open(journal, "a", direction="maximize", identity={"task": "digits"})
    with pytest.raises(StorageError, match="belongs to another task"):
        SearchStudy.open(journal, "a", direction="minimize")


@pytest.mark.parametrize("spec, message", [
    ("foo://host/db", "unknown scheme 'foo'"),
    ("sqlite://", "names no SQLite file"),
    ("postgresql://u:pw@127.0.0.1:1/db", "cannot connect to postgresql"),
])
def test_bad_storages_fail_with_one_line(spec, message, monkeypatch):
    monkeypatch.setenv("NAS_STORAGE_RETRIES", "1")
    with pytest.raises(StorageError, match=message) as info:
        open_storage(spec)
    assert "\n" not in str(info.value) and "pw" not in str(info.value)


def test_readers_do_not_create_missing_files(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        open_storage(str(tmp_path / "missing.journal"), create=False)
    SearchStudy.open(str(tmp_path / "s.journal"), "y", direction="maximize")
    with pytest.raises(StorageError, match="no study 'x' .*studies there: y"):
        SearchStudy.open(str(tmp_path / "s.journal"), "x", create=False)
    assert not (tmp_path / "missing.journal").exists()


def test_a_locked_sqlite_database_is_waited_for(tmp_path):
    path = tmp_path / "study.db"
    study = SearchStudy.open(str(path), "a", direction="maximize")
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(1.0, holder.rollback).start()
    started = time.monotonic()
    trial_id, _ = study.create_trial()  # blocks until the lock is released
    assert time.monotonic() - started >= 0.9
    assert study.record(trial_id).running
    holder.close()


def test_transient_failures_are_retried_and_permanent_ones_are_not():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("select", {}, Exception("database is locked"))
        return "ok"

    assert with_retry(flaky, "read", delays=(0.01, 0.01, 0.01)) == "ok" and len(calls) == 3
    denied = OperationalError("c", {}, Exception("password authentication failed for user"))
    assert not is_transient(denied) and is_transient(
        OperationalError("c", {}, Exception("Connection refused")))
    with pytest.raises(StorageError, match="cannot read: .*password authentication failed"):
        with_retry(lambda: (_ for _ in ()).throw(denied), "read", delays=(0.01,))


def test_names_and_redaction(monkeypatch):
    assert storage_kind("runs/x/study.journal") == "journal"
    assert storage_kind("runs/x/study.db") == "sqlite"
    assert storage_kind("postgresql://u@h/db") == "rdb"
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert without_password("postgresql://u:secret@h/db") == "postgresql://u@h/db"
    monkeypatch.setenv("NAS_STORAGE_RETRIES", "0")
    assert retry_delays() == ()
    monkeypatch.setenv("NAS_STORAGE_RETRIES", "8")
    assert len(retry_delays()) == 8
