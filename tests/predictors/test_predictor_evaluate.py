"""Evaluation splits and the method x baseline table, on the synthetic family."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nas.errors import PredictorError
from predictors import evaluate as ev


@pytest.fixture(scope="module")
def records(family):
    paths, scores = family
    root = paths[0].parent
    df = pd.DataFrame({
        "arch_id": [p.stem for p in paths],
        "grammar": [p.stem.split("-")[0] for p in paths],    # "mlp" / "cnn"
        "task": "toy", "val_score": scores, "higher_is_better": True,
        "onnx_path": [p.name for p in paths],
    })
    return ev.scored(df), root


def test_in_space_splits_cross_validate_within_each_group(records):
    df, _ = records
    splits = ev.in_space_splits(df, train_size=15, min_group=10)
    assert {s.group for s in splits} == {"cnn/toy", "mlp/toy"}
    assert len(splits) == 2 * 5
    for s in splits:
        assert len(s.train) <= 15 and not set(s.train) & set(s.test)
        assert df.iloc[np.concatenate([s.train, s.test])]["grammar"].nunique() == 1
    for group in ("cnn/toy", "mlp/toy"):  # every record of the group is tested exactly once
        tested = np.concatenate([s.test for s in splits if s.group == group])
        assert sorted(tested.tolist()) == sorted(np.flatnonzero(df["grammar"] == group[:3]))
    assert [s.train.tolist() for s in splits] == \
        [s.train.tolist() for s in ev.in_space_splits(df, train_size=15, min_group=10)]
    with pytest.raises(PredictorError, match="folds must be >= 2"):
        ev.in_space_splits(df, folds=1)


def test_by_grammar_splits_hold_one_grammar_out(records):
    df, _ = records
    splits = ev.by_grammar_splits(df)
    assert len(splits) == 2
    for s in splits:
        held = s.group.split()[1].split("/")[0]
        assert set(df.iloc[s.test]["grammar"]) == {held}
        assert held not in set(df.iloc[s.train]["grammar"])
    with pytest.raises(PredictorError, match="unknown split"):
        ev.make_splits(df, "random")


def test_lower_is_better_scores_are_flipped():
    df = pd.DataFrame({"arch_id": ["a", "b"], "grammar": "g", "task": "t",
                       "val_score": [1.0, 2.0], "higher_is_better": [False, False],
                       "onnx_path": ["a.onnx", "b.onnx"]})
    assert ev.scored(df)["target"].tolist() == [-1.0, -2.0]


def test_evaluate_reports_methods_and_baselines_on_the_same_split(records):
    df, root = records
    views = ev.load_views(df, root)
    splits = ev.in_space_splits(df, train_size=20, min_group=10)
    proxies = pd.DataFrame({"synflow": np.arange(len(df), dtype=float)}, index=df["arch_id"])
    methods = {"hashing+ridge": {"encoder": "hashing", "regressor": "ridge"}}
    rows = ev.evaluate(df, views, splits, methods=methods, proxies=proxies)
    assert set(rows["method"]) == {"hashing+ridge", "params", "macs", "proxy:synflow"}
    assert (rows.groupby(["group", "fold"])["n_test"].nunique() == 1).all()  # same test set
    summary = ev.summarize(rows)
    assert (summary["groups"] == 2).all()  # a group's folds count once
    best = summary.iloc[0]
    assert best["method"] == "hashing+ridge" and best["kendall_tau"] > 0.6
    assert list(summary.columns) == ["split", "method", "kendall_tau", "spearman", "groups",
                                     "n_test"]


def test_proxies_are_per_architecture_and_task(tmp_path):
    import torch

    df = pd.DataFrame({"arch_id": ["a", "a", "b"], "task": ["small", "large", "small"],
                       "grammar": "g", "params": [1, 2, 3], "macs": [1, 2, 3]})
    widths = {"small": 2, "large": 6}

    def build(rec):  # the same architecture on inputs of another size: other proxies
        torch.manual_seed(0)
        n_in = widths[rec["task"]] * (2 if rec["arch_id"] == "b" else 1)
        model = torch.nn.Sequential(torch.nn.Linear(n_in, 4), torch.nn.ReLU(),
                                    torch.nn.Linear(4, 3))
        return model, torch.randn(8, n_in), torch.arange(8) % 3

    cache = tmp_path / "proxies.csv"
    table = ev.proxy_table(df, build, names=["synflow", "grad_norm"], cache=cache)
    assert list(table.index) == [("a", "small"), ("a", "large"), ("b", "small")]
    assert table.loc[("a", "small"), "synflow"] != table.loc[("a", "large"), "synflow"]
    scores = ev.baseline_scores(df, [], table)
    np.testing.assert_array_equal(scores["proxy:synflow"], table["synflow"].to_numpy())

    def fail(rec):
        raise AssertionError("cached records are not rebuilt")

    again = ev.proxy_table(df, fail, names=["synflow", "grad_norm"], cache=cache)
    pd.testing.assert_frame_equal(again, table, check_exact=False)
    broken = ev.proxy_table(df.assign(arch_id=["x", "y", "z"]), fail, names=["synflow"])
    assert broken["synflow"].isna().all()  # unbuildable records get NaN, not an error


def test_default_methods_cover_every_regressor_and_keep_the_size_prior_for_zero_shot():
    in_space = ev.default_methods(include_minilm=True, split="in-space")
    zero_shot = ev.default_methods(include_minilm=True, split="by-grammar")
    for enc in ("hashing", "minilm"):
        for reg in ("ridge", "gbm", "mlp", "blend"):
            assert in_space[f"{enc}+{reg}"] == {"encoder": enc, "regressor": reg}
    assert not any(m.get("size_prior") for m in in_space.values())
    assert zero_shot["hashing+blend+size"]["size_prior"] is True
    assert "minilm+ridge" not in ev.default_methods(include_minilm=False)
