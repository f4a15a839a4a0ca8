"""Shared fixtures of the search tests: a working directory, a fresh journal study, and a
PostgreSQL server for the tests marked ``postgres``."""

from __future__ import annotations

import os

import optuna
import pytest

from nas.search.perf.pgserver import URL_ENV, PgServer, PgServerUnavailable
from nas.search.study import SearchStudy
from nas.space import load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A temporary current directory (runs/ lands there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL URL: ``$NAS_TEST_POSTGRES_URL``, else a throwaway loopback server
    (:mod:`nas.search.perf.pgserver`) for this session.

    Without either the test is skipped locally but **fails** when ``$CI`` is set: CI
    (.ci/run, which sources .ci/postgres) must run the PostgreSQL tests, never skip them.
    """
    url = os.environ.get(URL_ENV)
    if url:
        yield url
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {URL_ENV} is not: .ci/run must source .ci/postgres, "
                    "which starts a server and exports it", pytrace=False)
    server = PgServer(durable=False)
    try:
        url = server.start()
    except PgServerUnavailable as exc:
        pytest.skip(f"no PostgreSQL: {exc}")
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _postgres_marked(request):
    """Every test marked ``postgres`` gets the server (or the skip/fail) of
    :func:`postgres_url`, whether or not it asks for the URL."""
    if request.node.get_closest_marker("postgres"):
        request.getfixturevalue("postgres_url")


@pytest.fixture
def journal(tmp_path) -> str:
    return str(tmp_path / "study.journal")


@pytest.fixture
def study(journal) -> SearchStudy:
    """An empty outer study (maximize) on a journal file."""
    return SearchStudy.open(journal, "s", direction="maximize")


@pytest.fixture(scope="session")
def space():
    """The ffn grammar (small and fast to sample)."""
    return load_space("ffn")


@pytest.fixture(scope="session")
def archs(space):
    """Six distinct ffn architectures for 13 input features."""
    found = {}
    for seed in range(200):
        arch = space.sample((13,), seed=seed)
        found.setdefault(arch.id, arch)
        if len(found) == 6:
            return list(found.values())
    raise AssertionError("the ffn grammar gave fewer than 6 distinct architectures")
