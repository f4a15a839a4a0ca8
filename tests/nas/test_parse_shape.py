"""One ``--input-shape`` rule for every command: 1 to 3 positive integers, no batch axis."""

from __future__ import annotations

import pytest

from nas.cli import run_app
from nas.errors import NasError
from nas.space import parse_shape


@pytest.mark.parametrize("text, shape", [
    ("1x28x28", (1, 28, 28)), ("40x1", (40, 1)), ("13", (13,)), ("3,32,32", (3, 32, 32)),
    (" 3 X 8 x 8 ", (3, 8, 8)),
])
def test_shapes(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["", "0x3", "1x2x3x4", "3x", "x3", "-1", "a", "1.5", "3,,3"])
def test_bad_shapes_say_how_to_write_one(text):
    with pytest.raises(NasError, match=r"bad input shape .*: write C x H x W \(1x28x28\)"):
        parse_shape(text)


@pytest.mark.parametrize("command", [
    ["sample"], ["validate", "sequential(relu, norm)"],
    ["export", "sequential(relu, norm)", "-o", "m.onnx"],
])
def test_every_command_applies_the_same_rule(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_app([*command, "--input-shape", "1x2x3x4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: bad input shape '1x2x3x4'") and len(err.splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()
