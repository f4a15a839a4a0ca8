"""Every grammar's references and seeded samples export to ONNX with onnxruntime parity.

``export_onnx`` runs ``onnx.checker`` (full check) and compares onnxruntime with torch at
batch sizes 1 and 7 on random inputs; any failure raises ExportError.
"""

import pytest
import torch

from nas.builder import build_model
from nas.export import export_onnx, read_metadata
from nas.heads import HeadSpec
from nas.space import load_space

CASES = {
    "einspace": [(1, 8, 8), (3, 32, 32), (16, 8)],
    "ffn": [(12,)],
    "kan": [(2,)],
    "metamixer": [(1, 8, 8)],
    "versatileffn": [(12,)],
    "ptrnet": [(5, 2)],
}


def _head(grammar: str, shape) -> HeadSpec:
    return HeadSpec("pointer", shape[0]) if grammar == "ptrnet" else HeadSpec("classification", 4)


def _export(space, arch, shape, head):
    torch.manual_seed(0)
    model = build_model(arch, space, shape, head)
    result = export_onnx(model, shape, metadata={"score": 0.5, "arch": str(arch)})
    meta = read_metadata(result.model)
    assert list(meta)[0] == "score"
    assert result.opset >= 17


@pytest.mark.parametrize("grammar", list(CASES))
def test_references_export_with_parity(grammar):
    space = load_space(grammar)
    for arch, shape in space.references().values():
        _export(space, arch, shape, _head(grammar, shape))


def _samples(grammar: str, n: int):
    space = load_space(grammar)
    for shape in CASES[grammar]:
        head = _head(grammar, shape)
        for i in range(n):
            yield space, space.sample(shape, seed=i, head=head), shape, head


@pytest.mark.parametrize("grammar", list(CASES))
def test_seeded_samples_export_with_parity(grammar):
    for space, arch, shape, head in _samples(grammar, 8):
        _export(space, arch, shape, head)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("grammar", list(CASES))
def test_two_hundred_samples_per_grammar_export_with_parity(grammar):
    for space, arch, shape, head in _samples(grammar, 200):
        _export(space, arch, shape, head)
