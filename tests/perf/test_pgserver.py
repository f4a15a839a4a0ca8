"""nas.search.perf.pgserver: the throwaway PostgreSQL server of the tests and `nas perf storage`."""

from __future__ import annotations

import pytest

import nas.search.perf.pgserver as pgserver
from nas.search.perf.pgserver import PgServer, PgServerUnavailable


def test_without_server_binaries_it_says_what_to_install(monkeypatch):
    monkeypatch.setattr(pgserver, "server_bin", lambda: None)
    with pytest.raises(PgServerUnavailable, match="install Debian's postgresql package"):
        PgServer().start()


@pytest.mark.postgres
def test_a_server_starts_serves_on_loopback_and_leaves_nothing_behind():
    import psycopg2

    if pgserver.server_bin() is None:
        pytest.skip("no PostgreSQL server binaries here")
    server = PgServer(durable=False)
    with server as url:
        assert url == f"postgresql://postgres@127.0.0.1:{server.port}/nas"
        folder = server._dir
        conn = psycopg2.connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW listen_addresses")
                assert cur.fetchone()[0] == "127.0.0.1"
        finally:
            conn.close()
    assert not folder.exists() and server.url is None
    server.stop()  # a second stop is harmless
