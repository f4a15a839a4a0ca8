"""One fidelity per predictor: which store records ``nas predictor train`` learns from."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.predictor_training import kept_epochs, one_fidelity
from nas.errors import PredictorError


def records() -> pd.DataFrame:
    # ffn/digits mixes 4 and 20 epochs (two merged runs), kan/fit has one fidelity,
    # foreign/x records no epochs (a store written by another tool)
    rows = [("ffn", "digits", 4), ("ffn", "digits", 20), ("ffn", "digits", 20),
            ("ffn", "digits", 1), ("kan", "fit", 4), ("kan", "fit", 4),
            ("foreign", "x", None), ("foreign", "x", None)]
    return pd.DataFrame(rows, columns=["grammar", "task", "epochs"])


def test_max_keeps_each_groups_highest_epochs():
    kept = one_fidelity(records())
    assert kept.index.tolist() == [1, 2, 4, 5, 6, 7]
    assert kept_epochs(kept) == {"ffn/digits": 20, "foreign/x": None, "kan/fit": 4}


def test_a_number_keeps_exactly_those_epochs_and_all_keeps_everything():
    assert one_fidelity(records(), 4).index.tolist() == [0, 4, 5]
    assert one_fidelity(records(), "4").index.tolist() == [0, 4, 5]  # from the command line
    assert len(one_fidelity(records(), "all")) == 8
    no_column = records().drop(columns="epochs")
    assert len(one_fidelity(no_column)) == 8 and one_fidelity(no_column, 4).empty


@pytest.mark.parametrize("bad", ["0", "-3", "highest", "2.5"])
def test_an_unknown_fidelity_is_refused(bad):
    with pytest.raises(PredictorError, match="unknown --epochs"):
        one_fidelity(records(), bad)
