"""The label-noise check of a store (maintainer/label_noise.py): real retraining, real taus."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maintainer.label_noise import agreement, retrain

RECORD = {"grammar": "ffn", "task": "kan-expsin", "epochs": 2,
          "arch": "sequential(flatten, sequential(linear(32), tanh))"}


def test_agreement_ranks_every_pair_and_the_mean_of_the_other_seeds():
    base = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    result = agreement({"seed 0": base, "seed 1": base[::-1].copy(),
                        "seed 2": np.array([0.1, 0.2, 0.3, 0.5, 0.4])})
    assert result["seed 0 vs seed 1"] == pytest.approx(-1.0)
    assert result["seed 0 vs seed 2"] == pytest.approx(0.8)  # one discordant pair of 10
    # the mean of seeds 1 and 2 is 0.3, 0.3, 0.3, 0.35, 0.25: ties with seed 0's order
    assert result["seed 0 vs mean of the others"] < 0
    assert result["records"] == 5


def test_agreement_drops_records_a_seed_failed_on():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    result = agreement({"seed 0": a, "seed 1": np.array([1.0, math.nan, 3.0, 4.0])})
    assert result == {"seed 0 vs seed 1": pytest.approx(1.0), "records": 3}


def test_retrain_is_deterministic_per_seed_and_differs_across_seeds():
    first = retrain(RECORD, [1, 2])
    again = retrain(RECORD, [1])
    assert all(math.isfinite(s) for s in first)
    assert again[0] == first[0]
    assert first[0] != first[1]
