"""Shared fixtures of the search tests: a working directory and a fresh journal study."""

from __future__ import annotations

import optuna
import pytest

from nas.search.study import SearchStudy
from nas.space import load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A temporary current directory (runs/ lands there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


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
