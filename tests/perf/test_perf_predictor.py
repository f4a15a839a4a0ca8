"""Options of the predictor benchmark (nas/search/perf/predictor.py)."""

from __future__ import annotations

import pytest

from nas.search.perf import predictor as perf_predictor


def test_ranking_splits_default_to_both_and_follow_the_environment(monkeypatch):
    monkeypatch.delenv("NAS_PERF_PREDICTOR_SPLITS", raising=False)
    assert perf_predictor._ranking_splits() == ["in-space", "by-grammar"]
    monkeypatch.setenv("NAS_PERF_PREDICTOR_SPLITS", " by-grammar ")
    assert perf_predictor._ranking_splits() == ["by-grammar"]


def test_an_unknown_ranking_split_is_named(monkeypatch):
    monkeypatch.setenv("NAS_PERF_PREDICTOR_SPLITS", "in-space,zero-shot")
    with pytest.raises(ValueError, match=r"NAS_PERF_PREDICTOR_SPLITS: unknown \['zero-shot'\]"):
        perf_predictor._ranking_splits()
