"""The held-out zero-shot set: its groups are really held out, and its figures rank real
records of a real store."""

from __future__ import annotations

import math

import pandas as pd

from maintainer.heldout import HELDOUT, build, group_figures, group_records
from predictors.evaluate import load_views
from predictors.predictor import OnnxNetPredictor
from predictors.shipped import DATA_DIR, default_predictor_path


def test_no_heldout_group_is_in_the_shipped_predictors_training_store():
    index = pd.read_csv(DATA_DIR / "default-store-index.csv", usecols=["grammar", "task"])
    for grammar, task, _, _ in HELDOUT:
        # a held-out grammar is nowhere in the store, or a held-out task is nowhere in it
        assert grammar not in set(index["grammar"]) or task not in set(index["task"])


def test_a_groups_figures_rank_its_records_with_every_method(tmp_path, monkeypatch):
    """A group built as the held-out set is (every architecture trained in full: none
    stopped at a rung, every one a store record), then its figures."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "heldout"
    build(out, [("ffn", "wine", 6, 3)], workers=1)
    df, root = group_records(out, "ffn", "wine")
    assert len(df) == 6 and df["epochs"].eq(3).all()
    row = group_figures("ffn/wine", df, load_views(df, root),
                        OnnxNetPredictor.load(default_predictor_path()))
    assert row["n"] == 6 and {"predictor", "params", "macs"} <= set(row["tau"])
    assert any(m.startswith("proxy:") for m in row["tau"])
    assert all(math.isnan(t) or -1 <= t <= 1 for t in row["tau"].values())
    assert -1 <= row["noise_ceiling"] <= 1
    best = row["best_baseline"]
    assert abs(row["margin"] - (row["tau"]["predictor"] - row["tau"][best])) <= 0.002
