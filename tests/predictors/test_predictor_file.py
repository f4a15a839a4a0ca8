"""The saved predictor file across releases: it names its format version ``MAJOR.MINOR``;
every minor version of the reader's major loads (the shipped file too), another major is
refused with one line; and the estimator nests inside scikit-learn's tools."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nas.errors import PredictorError
from predictors import OnnxNetPredictor

SHIPPED = Path(__file__).parents[2] / "predictors" / "data" / "default.predictor"


@pytest.fixture(scope="module")
def fitted(family, tmp_path_factory):
    paths, scores = family
    p = OnnxNetPredictor(regressor="ridge").fit(paths[:24], scores[:24])
    return p, p.save(tmp_path_factory.mktemp("file") / "m.predictor"), paths[24:40]


def rewrite(path: Path, out: Path, config_changes: dict, extra: dict | None = None) -> Path:
    """A copy of ``path`` with ``config.json`` changed and ``extra`` members added, with a
    valid checksum computed here as the format documents it (sha256 over
    ``name NUL length NUL data`` of every other member, by name)."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = {**json.loads(members["config.json"]), **config_changes}
    members["config.json"] = json.dumps(config).encode()
    members.update(extra or {})
    members.pop("content.sha256")
    digest = hashlib.sha256()
    for name in sorted(members):
        digest.update(name.encode() + b"\0" + str(len(members[name])).encode() + b"\0"
                      + members[name])
    members["content.sha256"] = digest.hexdigest().encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_a_saved_file_names_its_format_version(fitted):
    _, path, _ = fitted
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("config.json"))["format_version"] == "1.0"


def test_a_file_of_a_later_minor_version_loads(fitted, tmp_path):
    p, path, models = fitted
    later = rewrite(path, tmp_path / "later.predictor",
                    {"format_version": "1.7", "platform_version": "3.4.0",
                     "a_later_field": {"ignored": True}},
                    {"arrays/a_later_array.npy": npy(np.arange(3.0))})
    np.testing.assert_array_equal(OnnxNetPredictor.load(later).predict(models),
                                  p.predict(models))


def test_the_first_files_major_only_version_loads(fitted, tmp_path):
    p, path, models = fitted
    first = rewrite(path, tmp_path / "first.predictor", {"format_version": 1})
    np.testing.assert_array_equal(OnnxNetPredictor.load(first).predict(models),
                                  p.predict(models))


@pytest.mark.parametrize("version, advice", [("2.0", "upgrade grammar-nas or retrain"),
                                             ("0.9", "retrain"), ("x", "retrain")])
def test_another_major_version_is_refused_in_one_line(fitted, tmp_path, version, advice):
    _, path, _ = fitted
    other = rewrite(path, tmp_path / "other.predictor", {"format_version": version})
    with pytest.raises(PredictorError) as caught:
        OnnxNetPredictor.load(other)
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert f"format version {version}, this release reads 1.x: {advice}" in message
    assert "nas predictor train" in message


def test_another_text_encoding_is_refused(fitted, tmp_path):
    _, path, _ = fitted
    other = rewrite(path, tmp_path / "enc.predictor", {"encoding_version": 1})
    with pytest.raises(PredictorError, match="text encoding 1; .* retrain it"):
        OnnxNetPredictor.load(other)


def test_the_shipped_predictor_loads_and_predicts(family):
    paths, _ = family
    shipped = OnnxNetPredictor.load(SHIPPED)
    predictions = shipped.predict(paths[:8])
    assert predictions.shape == (8,) and np.all(np.isfinite(predictions))
    assert shipped.get_params()["regressor"] == "blend"


def test_nested_params_inside_a_pipeline(family):
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    paths, scores = family
    pipe = Pipeline([("predictor", OnnxNetPredictor())])
    pipe.set_params(predictor__regressor="gbm", predictor__regressor_params={"max_iter": 20})
    assert pipe.get_params()["predictor__regressor"] == "gbm"
    copy = clone(pipe).fit(paths[:24], scores[:24])
    alone = OnnxNetPredictor(regressor="gbm", regressor_params={"max_iter": 20})
    np.testing.assert_array_equal(copy.predict(paths[24:32]),
                                  alone.fit(paths[:24], scores[:24]).predict(paths[24:32]))
    with pytest.raises(PredictorError, match="unknown parameter 'nonsense'"):
        pipe.set_params(predictor__nonsense=1)
