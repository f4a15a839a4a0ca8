"""A throwaway PostgreSQL server on loopback, for the tests and the storage benchmark.

It does what ``.ci/postgres`` does, from Python: ``initdb`` a fresh data folder in a
temporary directory (trust authentication, user ``postgres``), start the server with
``pg_ctl`` on ``127.0.0.1`` and a free port (its socket in that folder, nothing on the
network), create the database ``nas`` and hand back its URL; :meth:`PgServer.stop`
stops it and deletes the folder. PostgreSQL refuses to run as root, so as root the
server runs as the ``postgres`` system user (``runuser``/``su``), which the Debian
package creates.

    with PgServer() as url:        # postgresql://postgres@127.0.0.1:<port>/nas
        ...

Raises :class:`PgServerUnavailable` (with what to do) when no server binaries are
installed or the server cannot start.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

#: environment variable that names an existing server (tests and benchmarks prefer it)
URL_ENV = "NAS_TEST_POSTGRES_URL"
DATABASE = "nas"
SUPERUSER = "postgres"


class PgServerUnavailable(RuntimeError):
    """No PostgreSQL server could be started here (no binaries, no user, start failed)."""


def server_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: the newest Debian
    ``/usr/lib/postgresql/<version>/bin``, else the one on ``PATH``; None if neither."""
    def version(path: str) -> tuple[int, ...]:
        part = Path(path).parent.name
        return tuple(int(p) for p in part.split(".") if p.isdigit())

    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    found = shutil.which("pg_ctl")
    if found and (Path(found).parent / "initdb").exists():
        return Path(found).parent
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgServer:
    """One throwaway server (see the module docstring).

    Args:
        port: TCP port on 127.0.0.1 (default: a free one).
        durable: keep PostgreSQL's defaults (fsync on). ``False`` turns fsync and
            synchronous commit off: fine for tests, wrong for timings.
    """

    def __init__(self, port: int | None = None, durable: bool = True) -> None:
        self.port = port or free_port()
        self.durable = durable
        self.url: str | None = None
        self._dir: Path | None = None
        self._bin: Path | None = None

    def start(self) -> str:
        """Start the server; returns ``postgresql://postgres@127.0.0.1:<port>/nas``.

        Raises:
            PgServerUnavailable: no server binaries, no ``postgres`` user to run them as
                root, or initdb/pg_ctl/createdb failed (their output is in the message).
        """
        self._bin = server_bin()
        if self._bin is None:
            raise PgServerUnavailable(
                "no PostgreSQL server binaries (initdb, pg_ctl) here: install Debian's "
                "postgresql package, or point NAS_TEST_POSTGRES_URL at a server")
        self._dir = Path(tempfile.mkdtemp(prefix="nas-pg-"))
        try:
            self._own_data_dir()
            data, log = self._dir / "db", self._dir / "log"
            self._as_server_user([self._bin / "initdb", "-D", data, "-A", "trust", "-U",
                                  SUPERUSER, "--no-sync", "-E", "UTF8"])
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._dir} "
                       "-c max_connections=200")
            if not self.durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            self._as_server_user([self._bin / "pg_ctl", "-D", data, "-l", log, "-w", "-t",
                                  "60", "-o", options, "start"], log=log)
            self._run([self._bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U",
                       SUPERUSER, DATABASE])
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        self.url = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"
        return self.url

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its data folder; safe to repeat."""
        folder, self._dir = self._dir, None
        if folder is None:
            return
        if (folder / "db" / "postmaster.pid").exists() and self._bin is not None:
            try:
                self._as_server_user([self._bin / "pg_ctl", "-D", folder / "db", "-m", "fast",
                                      "-w", "stop"])
            except PgServerUnavailable:
                pass  # the folder goes anyway; a stray server dies with its data
        shutil.rmtree(folder, ignore_errors=True)
        self.url = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- running the binaries -------------------------------------------------------

    def _own_data_dir(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PgServerUnavailable(
                "PostgreSQL refuses to run as root and there is no 'postgres' user: "
                "install Debian's postgresql package (or `source .ci/postgres`)") from None
        os.chown(self._dir, user.pw_uid, user.pw_gid)

    def _as_server_user(self, argv: list, log: Path | None = None) -> None:
        """Run a server binary: as ``postgres`` when this process is root."""
        argv = [str(a) for a in argv]
        if os.geteuid() == 0:
            if shutil.which("runuser"):
                argv = ["runuser", "-u", SUPERUSER, "--", *argv]
            else:
                argv = ["su", SUPERUSER, "-s", "/bin/sh", "-c", shlex.join(argv)]
        self._run(argv, log)

    def _run(self, argv: list, log: Path | None = None) -> None:
        argv = [str(a) for a in argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/")
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            if log is not None and log.exists():
                detail += log.read_text(errors="replace").strip().splitlines()[-3:]
            program = next((Path(a).name for a in argv if "/bin/" in a), argv[0])
            raise PgServerUnavailable(f"PostgreSQL's {program} failed (exit code "
                                      f"{done.returncode}): {' / '.join(detail)}")

def postgres_url(durable: bool = True) -> tuple[str, PgServer | None]:
    """``$NAS_TEST_POSTGRES_URL`` if set, else a fresh :class:`PgServer`'s URL.

    Returns the URL and the server to stop afterwards (None for the given URL).
    Raises PgServerUnavailable when there is neither.
    """
    url = os.environ.get(URL_ENV)
    if url:
        return url, None
    server = PgServer(durable=durable)
    return server.start(), server
