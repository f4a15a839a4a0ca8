"""The trainability study's labels and its size baselines."""

from __future__ import annotations

import pandas as pd
import pytest

from maintainer.trainability import leaves_chance, size_auc


def frame(scores, params) -> pd.DataFrame:
    return pd.DataFrame({"task": "digits", "val_score": scores, "params": params})


def test_a_network_leaves_chance_above_twice_the_chance_accuracy():
    df = pd.DataFrame({"task": ["digits", "digits", "mnist1d", "digits"],
                       "val_score": [0.2, 0.21, 0.5, 0.1]})
    assert leaves_chance(df).tolist() == [False, True, True, False]


def test_a_size_baseline_takes_its_direction_from_the_training_rows():
    train = frame([0.1, 0.1, 0.9, 0.9], [1, 2, 3, 4])          # bigger trains here
    test = frame([0.9, 0.1, 0.9, 0.1], [10, 1, 8, 3])
    assert size_auc(train, test, "params") == 1.0
    reversed_train = frame([0.9, 0.9, 0.1, 0.1], [1, 2, 3, 4])  # smaller trains there
    assert size_auc(reversed_train, test, "params") == 0.0
    assert size_auc(train, frame([0.9, 0.1], [5, 5]), "params") == pytest.approx(0.5)
