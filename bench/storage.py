"""Opening the outer study's Optuna storage, with clear errors and retries.

``--storage`` takes what Optuna takes:

* a journal file path (the default, ``<run>/study.journal``; any path not ending in
  ``.db``/``.sqlite``/``.sqlite3``),
* an SQLite file path (``.db``, ``.sqlite``, ``.sqlite3``) or ``sqlite:///path``,
* a database URL: ``postgresql://user@host/db`` (or any SQLAlchemy URL Optuna's
  ``RDBStorage`` accepts, e.g. ``mysql+pymysql://...``).

Only failures that can pass by waiting are retried, with exponential backoff: a database
that is starting up or restarting, a dropped connection, a locked SQLite file. A refused
connection is retried for :data:`REFUSED_BUDGET_S` only (a server that is just opening its
port), then reported: a wrong port must not cost half a minute. Bad credentials, an
unknown host or database fail at once. Every failure becomes one
:class:`~nas.errors.StorageError` line that names the storage (password masked) and what
to do next.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from nas.errors import NotAJournalError, StorageError, first_line

T = TypeVar("T")

#: protocol keys of ``nas search`` in trial system_attrs (user_attrs hold the
#: docs/SCHEMA.md fields); :mod:`nas.search.history` explains them, and the leaderboard
#: reads them to leave out trials that were not evaluations
LEASE_UNTIL = "nas:lease_until"
HOST_KEY = "nas:host_key"
REQUEUE = "nas:requeue"
DISCARDED = "nas:discarded"

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
#: backoff delays (s) between attempts of a transient failure: about 30 s in all
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
#: environment variable that sets how many times a transient failure is retried
RETRIES_ENV = "NAS_STORAGE_RETRIES"
#: seconds of backoff in all for which a refused connection is retried
REFUSED_BUDGET_S = 2.0
#: error text that marks a failure as not worth retrying
_PERMANENT = ("authentication failed", "password", "does not exist", "no such table",
              "permission denied", "role ", "unknown database", "access denied",
              "could not translate host name", "name or service not known",
              "nodename nor servname", "unknown host", "no such host",
              "invalid ")  # a malformed option (sslmode, port...) in the URL
#: error text of a refused connection (nothing listens on that host and port)
_REFUSED = ("connection refused", "actively refused")


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (messages must not leak it)."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]*@", r"\1***@", url)


def without_password(url: str) -> str:
    """``url`` with the password removed (for files; the driver then reads PGPASSWORD,
    ~/.pgpass or the like)."""
    return re.sub(r"(://[^:/@\s]+):[^@\s]*@", r"\1@", url)


def storage_url(spec: str) -> str:
    """Normalise ``spec``: SQLite file paths become ``sqlite:///<absolute path>``;
    URLs and journal paths are returned as given."""
    if "://" in spec:
        return spec
    path = Path(spec)
    if path.suffix.lower() in SQLITE_SUFFIXES:
        return f"sqlite:///{path.resolve()}"
    return spec


def storage_kind(spec: str) -> str:
    """``journal``, ``sqlite`` or ``rdb`` (any other database URL)."""
    url = storage_url(spec)
    if "://" not in url:
        return "journal"
    return "sqlite" if url.startswith("sqlite:") else "rdb"


def retry_delays() -> tuple[float, ...]:
    """The backoff delays: :data:`RETRY_DELAYS`, or as many as ``$NAS_STORAGE_RETRIES``
    says (0 = fail at once; more than 6 repeats the last, 15 s)."""
    text = os.environ.get(RETRIES_ENV)
    if text is None:
        return RETRY_DELAYS
    try:
        n = max(0, int(text))
    except ValueError:
        raise StorageError(f"${RETRIES_ENV}={text!r} is not a whole number") from None
    return (RETRY_DELAYS + (RETRY_DELAYS[-1],) * n)[:n]


def open_storage(spec: str, *, create: bool = True, delays=None):
    """An Optuna storage object for ``spec`` (see the module docstring).

    Args:
        spec: storage URL or file path.
        create: make a missing journal/SQLite file (and its folder); when False a
            missing file is an error (readers such as ``nas status`` must not create one).
        delays: backoff delays for transient connection failures (default
            :func:`retry_delays`).

    Raises:
        StorageError: malformed URL, unknown scheme, missing driver, missing file (with
            ``create=False``), or a database that stays unreachable.
    """
    url = storage_url(spec)
    if "://" not in url:
        return _journal(Path(url), create)
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in RDB_SCHEMES:
        raise StorageError(f"storage {redact(url)!r} has an unknown scheme {scheme!r}: use a "
                           "journal file path, sqlite:///file.db or postgresql://user@host/db")
    if scheme == "sqlite":
        _sqlite_file(url, create)
    url = with_driver(url)
    return with_retry(lambda: _rdb(url), f"connect to {redact(url)}", delays)


def _journal(path: Path, create: bool):
    # optuna: imported when a study is opened; the CLI imports this module at start-up
    import optuna

    if path.is_dir():
        raise StorageError(f"storage {str(path)!r} is a directory: name a journal file "
                           "(e.g. runs/x/study.journal) or pass a database URL")
    if not path.exists():
        if not create:
            raise StorageError(f"journal file {str(path)!r} does not exist: check the path, "
                               "or run `nas search` to create the study")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder of {str(path)!r}: {exc}") from exc
    else:
        _check_journal_file(path)
    try:
        backend = optuna.storages.journal.JournalFileBackend(str(path), lock_obj=_lock(path))
        return optuna.storages.JournalStorage(backend)
    except OSError as exc:
        raise StorageError(f"cannot open journal file {str(path)!r}: {exc}") from exc
    except Exception as exc:  # a corrupt journal raises from Optuna's replay
        raise StorageError(f"journal file {str(path)!r} cannot be read ({first_line(exc)}): "
                           "it is not an Optuna journal or it is damaged") from exc


#: the start of every SQLite 3 database file
_SQLITE_HEADER = b"SQLite format 3\x00"
#: how much of a journal's first line is read to tell whether it is a journal record
_FIRST_LINE_BYTES = 1 << 16


def _check_journal_file(path: Path) -> None:
    """Refuse an existing file that is not an Optuna journal.

    Optuna skips a last line that is not a complete JSON record (a write cut short), so a
    file of one such "line" (a database, binary data, a text line) would read as an empty
    study, and a search would append its records to it. So its first line must be a
    journal record: a JSON object with an ``op_code`` (or, with no line end yet, the
    start of one: a first write cut short).
    """
    try:
        with open(path, "rb") as f:
            head = f.readline(_FIRST_LINE_BYTES)
    except OSError as exc:
        raise StorageError(f"cannot open journal file {str(path)!r}: {exc}") from exc
    if not head or _journal_record(head):
        return
    what = ("a SQLite database: pass sqlite:///" + str(path)
            if head.startswith(_SQLITE_HEADER) else
            "not an Optuna journal (its first line is not a journal record): check the "
            "path, or name a new file for a new study")
    raise NotAJournalError(f"storage {str(path)!r} is {what}")


def _journal_record(head: bytes) -> bool:
    """Whether ``head`` (a file's first line, or its start) is a journal record."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if not text.endswith("\n"):  # no line end yet: the first write may have been cut short
        return text.startswith("{") and text.isprintable()
    try:
        record = json.loads(text)
    except ValueError:
        return False
    return isinstance(record, dict) and "op_code" in record


def _lock(path: Path):
    """:class:`FlockLock` where ``fcntl`` exists, else Optuna's default (symlink) lock."""
    try:
        import fcntl  # noqa: F401
    except ImportError:  # pragma: no cover - not POSIX
        return None
    return FlockLock(str(path))


class FlockLock:
    """The journal's write lock, held with ``flock(2)`` on ``<journal>.flock``.

    (Optuna's ``JournalFileBackend`` only calls ``acquire``/``release``; its lock base
    class is private.)
    The kernel drops it when its holder dies, so a worker killed in the middle of a
    write never blocks the others. (Optuna's default symlink lock is left behind by a
    killed process and is broken only after a 30 s grace period.) Linux NFS clients
    map flock to NFS locks; where a filesystem has no locks at all, use a database.
    """

    def __init__(self, journal_path: str) -> None:
        self._path = journal_path + ".flock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        import fcntl

        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        import fcntl

        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _sqlite_file(url: str, create: bool) -> None:
    raw = url.split(":///", 1)[1] if ":///" in url else ""
    if not raw or raw.startswith(":memory:"):
        raise StorageError(f"storage {url!r} names no SQLite file: workers must share a file, "
                           "e.g. sqlite:///runs/x/study.db")
    path = Path(raw)
    if not path.exists():
        if not create:
            raise StorageError(f"SQLite file {raw!r} does not exist: check the path")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder of {raw!r}: {exc}") from exc


def with_driver(url: str) -> str:
    """``postgresql://`` (and ``postgres://``) with an installed driver: SQLAlchemy 2.1
    picks psycopg 3 by default, while this project installs psycopg2."""
    scheme, rest = url.split("://", 1)
    if scheme not in ("postgresql", "postgres"):
        return url
    import importlib.util

    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}://{rest}"
    return f"postgresql://{rest}"


def _rdb(url: str):
    # optuna: imported when a study is opened; the CLI imports this module at start-up
    import optuna

    kwargs: dict = {"pool_pre_ping": True}
    if url.startswith("sqlite:"):
        # wait for a locked database instead of failing at once (many workers, one file)
        kwargs = {"connect_args": {"timeout": 60}}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except ImportError as exc:
        raise StorageError(f"the database driver for {redact(url)!r} is not installed "
                           f"({first_line(exc)}): pip install it (psycopg2-binary for "
                           "PostgreSQL)") from exc
    except (ValueError, TypeError) as exc:
        raise StorageError(f"storage URL {redact(url)!r} is malformed ({first_line(exc)}): "
                           "expected e.g. postgresql://user@host:5432/dbname") from exc


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a storage failure worth retrying (connection lost or refused,
    database starting up, locked or busy) rather than a permanent one (bad credentials,
    unknown host or database, bad data)."""
    return failure_kind(exc) != "permanent"


def failure_kind(exc: BaseException) -> str:
    """``"transient"`` (can pass by waiting), ``"refused"`` (nothing listens there: may
    be a server still starting, more likely a wrong port) or ``"permanent"``."""
    try:
        from sqlalchemy import exc as sa_exc
    except ImportError:  # pragma: no cover - sqlalchemy comes with optuna
        return "permanent"
    seen = exc
    while seen is not None:
        if isinstance(seen, sa_exc.OperationalError | sa_exc.InterfaceError):
            text = str(seen).lower()
            if any(word in text for word in _PERMANENT):
                return "permanent"
            return "refused" if any(word in text for word in _REFUSED) else "transient"
        if isinstance(seen, sa_exc.DisconnectionError | sa_exc.TimeoutError):
            return "transient"
        seen = seen.__cause__ or seen.__context__
    return "permanent"


def with_retry(fn: Callable[[], T], what: str, delays=None) -> T:
    """Call ``fn``; retry transient storage failures after each of ``delays`` seconds
    (default :func:`retry_delays`).

    Raises:
        StorageError: a permanent failure, or a transient one that outlasted the retries.
    """
    # optuna: imported when a study is opened; the CLI imports this module at start-up
    from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError

    passthrough = (StorageError, UpdateFinishedTrialError, DuplicatedStudyError, KeyError)
    delays = retry_delays() if delays is None else delays
    waited = 0.0
    for attempt in range(len(delays) + 1):
        try:
            return fn()
        except passthrough:
            raise
        except Exception as exc:
            kind = failure_kind(exc)
            if kind == "permanent":
                raise StorageError(f"cannot {what}: {_root_message(exc)}") from exc
            refused = kind == "refused" and (attempt == len(delays)
                                             or waited + delays[attempt] > REFUSED_BUDGET_S)
            if refused:
                raise StorageError(
                    f"cannot {what}: {_root_message(exc)} (still refused after {waited:.1f} "
                    "s). Check the host and port, and that the database server is "
                    "running") from exc
            if attempt == len(delays):
                raise StorageError(
                    f"cannot {what} ({attempt + 1} attempt(s) over {waited:.1f} s): "
                    f"{_root_message(exc)}. Check that the database is running and "
                    "reachable") from exc
            time.sleep(delays[attempt])
            waited += delays[attempt]
    raise AssertionError("unreachable")  # pragma: no cover


def _root_message(exc: BaseException) -> str:
    """The innermost cause's first line (a driver's message says more than Optuna's)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return first_line(exc)
