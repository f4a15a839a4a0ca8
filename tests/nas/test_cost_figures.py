"""The cost figures have one definition (docs/export_store.md, "Cost figures").

``params``: the sampler's analytic count (op registry + head), torch's count of the built
module's parameters and the count read from its exported ONNX file are the same number;
``macs``: the analytic count and the count read from the ONNX graph are the same number;
on every grammar's references and on seeded samples of every grammar.
"""

import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from nas.builder import build_model
from nas.export import export_onnx
from nas.heads import HeadSpec
from nas.onnx_cost import count_macs, count_params
from nas.space import load_space

#: input shapes per grammar (those of tests/nas/test_export_grammars.py)
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


def _architectures(grammar: str, per_shape: int):
    space = load_space(grammar)
    for arch, shape in space.references().values():
        yield space, arch, shape
    for shape in CASES[grammar]:
        for seed in range(per_shape):
            yield space, space.sample(shape, seed=seed, head=_head(grammar, shape)), shape


def _torch_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _check_figures_agree(grammar: str, per_shape: int) -> None:
    for space, arch, shape in _architectures(grammar, per_shape):
        head = _head(grammar, shape)
        analytic = space.check(arch, shape, head)
        torch.manual_seed(0)
        model = build_model(arch, space, shape, head)
        proto = export_onnx(model, shape).model
        where = f"{arch} on {shape}"
        assert analytic.params == _torch_params(model) == count_params(proto), where
        assert analytic.macs == count_macs(proto), where


@pytest.mark.parametrize("grammar", list(CASES))
def test_analytic_torch_and_onnx_figures_agree(grammar):
    _check_figures_agree(grammar, per_shape=2)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("grammar", list(CASES))
def test_figures_agree_on_ten_samples_per_shape(grammar):
    _check_figures_agree(grammar, per_shape=10)


def test_parameters_of_equal_value_are_counted_once_each():
    # two fresh LayerNorms hold the same ones and zeros; torch's exporter would merge them
    model = nn.Sequential(nn.Linear(6, 6), nn.LayerNorm(6), nn.Linear(6, 6), nn.LayerNorm(6))
    assert count_params(export_onnx(model, (6,)).model) == _torch_params(model) == 2 * 42 + 2 * 12


class _Twice(nn.Module):
    """One Linear applied twice: one weight, folded (transposed) at each use."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5, bias=False)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


def test_a_shared_weight_is_counted_once():
    proto = export_onnx(_Twice(), (5,)).model
    assert count_params(proto) == 25
    float_inits = [t for t in proto.graph.initializer if t.data_type == TensorProto.FLOAT]
    assert [tuple(t.dims) for t in float_inits] == [(5, 5)]


def test_buffers_are_constants_not_parameters():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))
    proto = export_onnx(model, (2, 6, 6)).model
    assert count_params(proto) == _torch_params(model) == 2 * 3 * 9 + 3 + 2 * 3
    constants = {n.output[0] for n in proto.graph.node if n.op_type == "Constant"}
    assert {"1.running_mean", "1.running_var"} <= constants


def _batchnorm_file(shared_scale_and_var: bool) -> onnx.ModelProto:
    """A foreign file: BatchNormalization with its four tensors as initializers."""
    names = ["scale", "bias", "mean", "scale" if shared_scale_and_var else "var"]
    inits = [helper.make_tensor(n, TensorProto.FLOAT, [4], [1.0] * 4) for n in dict.fromkeys(names)]
    node = helper.make_node("BatchNormalization", ["x", *names], ["y"])
    graph = helper.make_graph(
        [node], "bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 2, 2])], inits)
    return helper.make_model(graph)


def test_batchnorm_statistics_in_any_file_are_not_parameters():
    assert count_params(_batchnorm_file(False)) == 8  # scale and bias, not mean and var
    # a tensor read both as a weight and as a statistic is a weight
    assert count_params(_batchnorm_file(True)) == 8


def test_the_store_counts_both_figures_head_included(tmp_path):
    from bench.store import OnnxBenchStore

    space, head = load_space("ffn"), HeadSpec("classification", 3)
    arch = space.sample((12,), seed=1, head=head)
    model = build_model(arch, space, (12,), head)
    record = {"arch_id": arch.id, "arch": str(arch), "grammar": "ffn", "task": "t",
              "metric": "accuracy", "val_score": 0.5}
    store = OnnxBenchStore(tmp_path / "bench", create=True)
    stored = store.add(export_onnx(model, (12,)).model, record)
    # an ffn network multiplies only in its Linear layers: one MAC per weight, head included
    weights = sum(p.numel() for p in model.parameters() if p.dim() == 2)
    assert (stored["params"], stored["macs"]) == (_torch_params(model), weights)
    typed = space.check(arch, (12,), head)
    assert (typed.params, typed.macs) == (stored["params"], stored["macs"])


def test_an_import_refuses_a_figure_the_graph_does_not_have(tmp_path):
    from bench.store import OnnxBenchStore
    from nas.errors import StoreError

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    export_onnx(model, (4,), path=tmp_path / "m.onnx")
    store = OnnxBenchStore(tmp_path / "bench", create=True)
    (tmp_path / "ok.csv").write_text("path,score,params,macs\nm.onnx,0.5,58,48\n")
    assert [r["macs"] for r in store.import_scores(tmp_path / "ok.csv").records] == [48]
    (tmp_path / "bad.csv").write_text("path,score,macs\nm.onnx,0.5,40\n")
    with pytest.raises(StoreError, match=r"bad\.csv:2: macs 40 .* graph counts 48"):
        store.import_scores(tmp_path / "bad.csv")


def test_a_sample_with_a_head_keeps_the_limits_as_check_counts_them():
    from nas.derive import Limits

    head = HeadSpec("classification", 10)
    space = load_space("ffn", limits=Limits(max_macs=2000))  # the head's 10*W MACs matter
    for seed in range(40):
        arch = space.sample((12,), seed=seed, head=head)
        assert space.check(arch, (12,), head, enforce_limits=True).macs <= 2000
