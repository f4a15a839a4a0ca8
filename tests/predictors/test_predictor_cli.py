"""``nas predict`` and ``nas predictor info|train|eval`` on a small real store."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.predictor_training import training_set_hash
from bench.store import OnnxBenchStore
from nas.cli import run_app
from nas.search.perf.synthetic_networks import export, known_score, sample_specs
from predictors import OnnxNetPredictor
from predictors.shipped import default_predictor_path


@pytest.fixture(scope="module")
def store(family, tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    st = OnnxBenchStore(root, create=True)
    for i, spec in enumerate(sample_specs(48, seed=0)):
        st.add(export(spec), {"arch_id": f"{i:012x}", "arch": repr(spec), "grammar": spec.kind,
                              "task": "toy", "metric": "score",
                              "val_score": known_score(spec)}, refresh_index=False)
    st.refresh_index()
    return root


def test_predict_without_a_shipped_predictor_says_how_to_train(family, capsys, monkeypatch):
    monkeypatch.setattr("predictors.shipped.default_predictor_path",
                        lambda: family[0][0].parent / "none")
    assert run_app(["predict", str(family[0][0])]) == 2
    err = capsys.readouterr().err
    assert "nas predictor train" in err and err.count("\n") == 1


def test_train_predict_and_eval_from_a_store(store, family, tmp_path, capsys):
    out = tmp_path / "toy.predictor"
    assert run_app(["predictor", "train", "--store", str(store), "-o", str(out)]) == 0
    assert "48 records" in capsys.readouterr().out
    paths = [str(p) for p in family[0][:3]]
    assert run_app(["predict", *paths, "--predictor", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["target"] == "score" and len(result["predictions"]) == 3
    assert run_app(["predictor", "eval", "--store", str(store), "--predictor", str(out),
                    "--split", "in-space", "--as-is", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    methods = {r["method"] for r in table["summary"]}
    assert {"refit", "given", "params", "macs"} <= methods
    refit = next(r for r in table["summary"] if r["method"] == "refit")
    assert refit["kendall_tau"] > 0.5


def test_a_predictor_file_records_the_hash_of_its_training_set(store, tmp_path, capsys):
    out = tmp_path / "toy.predictor"
    assert run_app(["predictor", "train", "--store", str(store), "-o", str(out)]) == 0
    capsys.readouterr()
    assert run_app(["predictor", "info", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    recorded = shown["metadata"]["training_set"]
    index = OnnxBenchStore(store).to_dataframe()
    assert recorded == training_set_hash(index) == training_set_hash(index[::-1])
    changed = index.copy()
    changed.loc[0, "val_score"] += 0.01  # one label moved: another training set
    assert training_set_hash(changed) != recorded
    assert shown["n_train"] == 48 and shown["metadata"]["n_records"] == 48


def test_the_shipped_predictor_follows_the_shipped_store_index():
    # predictors/data holds both; maintainer.predictor_store writes them together
    index = pd.read_csv(default_predictor_path().parent / "default-store-index.csv")
    shipped = OnnxNetPredictor.load(default_predictor_path())
    assert shipped.metadata_["training_set"] == training_set_hash(index)
    assert shipped.metadata_["n_records"] == len(index) == shipped.n_train_


def test_bad_stores_and_splits_fail_in_one_line(store, capsys):
    assert run_app(["predictor", "eval", "--store", str(store), "--split", "random"]) == 2
    assert "unknown split 'random'" in capsys.readouterr().err
    assert run_app(["predictor", "train", "--store", str(store / "missing"), "-o", "x"]) == 2
    err = capsys.readouterr().err
    assert "no ONNX-Bench store" in err and err.count("\n") == 1


def test_a_bad_regressor_fails_before_any_file_is_read(store, tmp_path, capsys):
    out = tmp_path / "never.predictor"
    assert run_app(["predictor", "train", "--store", str(store), "--regressor", "svm",
                    "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == "error: unknown regressor 'svm'; choose one of ridge, gbm, mlp, blend\n"
    assert not out.exists()


def test_train_learns_from_one_fidelity_unless_told_otherwise(tmp_path, capsys):
    # 24 records of one group: 16 trained 20 epochs, 8 of them again at 2 epochs
    st = OnnxBenchStore(tmp_path / "mixed", create=True)
    for i, spec in enumerate(sample_specs(24, seed=1)):
        st.add(export(spec), {"arch_id": f"{i:012x}", "arch": repr(spec), "grammar": "mlp",
                              "task": "toy", "metric": "score", "epochs": 20 if i < 16 else 2,
                              "val_score": known_score(spec)}, refresh_index=False)
    st.refresh_index()
    out = tmp_path / "p.predictor"
    assert run_app(["predictor", "train", "--store", str(st.root), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "16 records" in said and "8 records at other epochs left out" in said
    meta = OnnxNetPredictor.load(out).metadata_
    assert meta["epochs"] == {"mlp/toy": 20} and meta["n_other_fidelity"] == 8
    assert run_app(["predictor", "train", "--store", str(st.root), "-o", str(out),
                    "--epochs", "2"]) == 0
    assert "8 records" in capsys.readouterr().out
    assert run_app(["predictor", "train", "--store", str(st.root), "-o", str(out),
                    "--epochs", "all"]) == 0
    assert "24 records" in capsys.readouterr().out
    assert run_app(["predictor", "train", "--store", str(st.root), "-o", str(out),
                    "--epochs", "7"]) == 2
    err = capsys.readouterr().err
    assert "0 scored records" in err and "--epochs 7" in err and err.count("\n") == 1
