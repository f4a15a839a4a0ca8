"""Every ONNX model shipped inside the onnx package encodes or raises PredictorError."""

from __future__ import annotations

import glob
import os

import onnx

from nas.errors import PredictorError
from predictors import onnx_to_text, parse_edges

_DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
MODELS = sorted(glob.glob(os.path.join(_DATA, "**", "model.onnx"), recursive=True)
                + glob.glob(os.path.join(_DATA, "light", "*.onnx")))


def test_the_onnx_package_ships_test_models():
    assert len(MODELS) > 100


def test_every_shipped_model_encodes_or_raises_predictor_error():
    encoded, refused = 0, []
    for path in MODELS:
        try:
            text = onnx_to_text(path)
        except PredictorError as exc:
            assert str(exc) and "\n" not in str(exc)
            refused.append(path)
            continue
        assert 0 < len(text) <= 20_000
        assert onnx_to_text(path) == text  # deterministic
        parse_edges(text)
        encoded += 1
    assert encoded >= 0.9 * len(MODELS), refused
