"""ONNX export: checker, onnxruntime parity, dynamic batch, metadata order, cost counts."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import ExportError
from nas.export import (
    DEFAULT_OPSET,
    export_onnx,
    read_metadata,
    save_onnx,
    set_metadata,
)
from nas.onnx_cost import count_macs, count_params, measure_latency

torch.set_num_threads(1)


# --- modules covering the ops the grammars use ------------------------------------


class Im2colLinearCol2im(nn.Module):
    """einspace's convolution: im2col (unfold) -> linear -> col2im (fold), sizes static."""

    def __init__(self, c_in=3, c_out=8, size=8):
        super().__init__()
        self.size = size
        self.linear = nn.Linear(c_in * 9, c_out)

    def forward(self, x):  # (B, C, H, W)
        cols = F.unfold(x, 3, padding=1)  # (B, C*9, H*W)
        cols = self.linear(cols.transpose(1, 2)).transpose(1, 2)  # (B, c_out, H*W)
        return F.fold(cols, (self.size, self.size), 1)  # (B, c_out, H, W)


class FoldFromShape(Im2colLinearCol2im):
    """Same, but fold's size read from x.shape: the TorchScript exporter cannot do this."""

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        cols = self.linear(F.unfold(x, 3, padding=1).transpose(1, 2)).transpose(1, 2)
        return F.fold(cols, (h, w), 1)


class Attention(nn.Module):
    """Scaled dot product + softmax + matmul over a sequence (B, S, D)."""

    def __init__(self, d=8):
        super().__init__()
        self.q, self.k, self.norm = nn.Linear(d, d), nn.Linear(d, d), nn.LayerNorm(d)

    def forward(self, x):
        scores = self.q(x) @ self.k(x).transpose(1, 2) / 8**0.5  # (B, S, S)
        return self.norm(torch.softmax(scores, -1) @ x)


class LstmClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.out = nn.LSTM(4, 16, batch_first=True), nn.Linear(16, 3)

    def forward(self, x):  # (B, S, 4)
        y, _ = self.lstm(x)
        return self.out(y[:, -1])


class PointerLike(nn.Module):
    """LSTM encoder + additive attention scores over the N items: output (B, N, N)."""

    def __init__(self, d=2, h=16):
        super().__init__()
        self.enc = nn.LSTM(d, h, batch_first=True)
        self.w1, self.w2 = nn.Linear(h, h), nn.Linear(h, h)
        self.v = nn.Linear(h, 1, bias=False)

    def forward(self, x):  # (B, N, d)
        e, _ = self.enc(x)  # (B, N, h)
        u = self.v(torch.tanh(self.w1(e)[:, None] + self.w2(e)[:, :, None]))  # (B, N, N, 1)
        return torch.log_softmax(u.squeeze(-1), -1)


class OneHotGather(nn.Module):
    """argmax -> one_hot and gather: the static form of VersatileFFN's depth choice."""

    def __init__(self, d=6):
        super().__init__()
        self.linear = nn.Linear(d, d)

    def forward(self, x):  # (B, S, d)
        y = self.linear(x)
        idx = y.argmax(-1)  # (B, S)
        picked = torch.gather(y, -1, idx.unsqueeze(-1))  # (B, S, 1)
        return F.one_hot(idx, y.shape[-1]).to(y.dtype) * y + picked


def _conv_net():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.GELU(),
        nn.Conv2d(8, 8, 7, padding=3, groups=8),  # depthwise large kernel
        nn.SiLU(), nn.Conv2d(8, 8, 1), nn.SELU(), nn.LeakyReLU(0.1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )


MODULES = {
    "mlp_layernorm": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.LayerNorm(32),
                                            nn.GELU(), nn.Linear(32, 10)), (1, 8, 8)),
    "conv_bn_dw_acts": (_conv_net, (3, 16, 16)),
    "im2col_col2im": (Im2colLinearCol2im, (3, 8, 8)),
    "attention_softmax_matmul": (Attention, (5, 8)),
    "lstm": (LstmClassifier, (6, 4)),
    "pointer": (PointerLike, (5, 2)),
    "onehot_gather": (OneHotGather, (4, 6)),
    "softmax_selu": (lambda: nn.Sequential(nn.Linear(13, 16), nn.SELU(), nn.Softmax(-1)), (13,)),
}


def _build(name):
    torch.manual_seed(0)
    factory, shape = MODULES[name]
    return factory().eval(), shape


def _ort_matches(proto, model, shape, batch):
    """Independent parity check at a batch size export_onnx never tried."""
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = torch.randn(batch, *shape)
    with torch.no_grad():
        ref = model(x).numpy()
    out = session.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_default_export_passes_checker_and_parity(name):
    model, shape = _build(name)
    result = export_onnx(model, shape)
    onnx.checker.check_model(result.model, full_check=True)
    assert result.exporter == "torchscript" and result.opset == DEFAULT_OPSET
    assert result.max_abs_err <= 1e-4
    batch_dim = result.model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param == "batch"
    _ort_matches(result.model, model, shape, batch=3)


@pytest.mark.parametrize("name", ["mlp_layernorm", "im2col_col2im", "lstm"])
def test_dynamo_export_passes_checker_and_parity(name):
    model, shape = _build(name)
    result = export_onnx(model, shape, exporter="dynamo")
    assert result.exporter == "dynamo"
    assert read_metadata(result.model)["exporter"] == "dynamo"
    assert result.model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    _ort_matches(result.model, model, shape, batch=3)


def test_auto_falls_back_to_dynamo_when_torchscript_fails():
    torch.manual_seed(0)
    model = FoldFromShape().eval()
    result = export_onnx(model, (3, 8, 8))
    assert result.exporter == "dynamo"
    assert result.notes and result.notes[0].startswith("torchscript")
    _ort_matches(result.model, model, (3, 8, 8), batch=2)


class BatchBaked(nn.Module):
    """Uses the batch size as a Python number: tracing bakes it in."""

    def forward(self, x):
        return x * float(x.shape[0])


def test_parity_failure_is_an_export_error_with_numbers():
    with pytest.raises(ExportError, match=r"max abs err [0-9.e+-]+, max rel err"):
        export_onnx(BatchBaked(), (4,), exporter="torchscript")


def test_bad_arguments_are_export_errors():
    model, shape = _build("softmax_selu")
    with pytest.raises(ExportError, match="opset >= 17"):
        export_onnx(model, shape, opset=13)
    with pytest.raises(ExportError, match="unknown exporter"):
        export_onnx(model, shape, exporter="tf")


def test_exports_current_weights_in_eval_mode_and_restores_train_mode():
    model, shape = _build("conv_bn_dw_acts")
    model.train()
    with torch.no_grad():
        model(torch.randn(16, *shape) * 3 + 1)  # move BatchNorm's running statistics
        model[0].weight.mul_(2.0)  # "trained" weights
    result = export_onnx(model, shape)
    assert model.training
    model.eval()
    _ort_matches(result.model, model, shape, batch=4)


def test_file_is_self_contained_with_metadata(tmp_path):
    model, shape = _build("mlp_layernorm")
    path = tmp_path / "net.onnx"
    result = export_onnx(model, shape, path=path, metadata={"arch_id": "abc", "score": 0.75})
    assert result.path == path and sorted(p.name for p in tmp_path.iterdir()) == ["net.onnx"]
    loaded = onnx.load(str(path))
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in loaded.graph.initializer)
    meta = read_metadata(path)
    assert list(meta)[0] == "score" and loaded.metadata_props[0].value == "0.75"
    assert meta["exporter"] == "torchscript" and meta["opset"] == str(DEFAULT_OPSET)
    assert meta["input_shape"] == "1x8x8" and meta["arch_id"] == "abc"
    assert read_metadata(loaded) == meta == read_metadata(path.read_bytes())


def test_pointer_export_says_its_sequence_length_is_fixed():
    model, shape = _build("pointer")
    meta = read_metadata(export_onnx(model, shape).model)
    assert meta["fixed_sequence_length"] == "5"
    classifier, cshape = _build("lstm")
    assert "fixed_sequence_length" not in read_metadata(export_onnx(classifier, cshape).model)


def test_set_metadata_puts_score_first_and_encodes_values():
    proto = export_onnx(*_build("softmax_selu")).model
    set_metadata(proto, {"a": 1, "hparams": {"lr": 0.1, "bs": 64}, "ok": True, "score": 0.1 + 0.2})
    keys = [p.key for p in proto.metadata_props]
    assert keys[0] == "score" and proto.metadata_props[0].value == repr(0.1 + 0.2)
    meta = read_metadata(proto)
    assert float(meta["score"]) == 0.1 + 0.2  # exact round trip
    assert meta["hparams"] == '{"bs": 64, "lr": 0.1}' and meta["ok"] == "true"
    set_metadata(proto, {"a": None, "b": "x"})
    assert "a" not in read_metadata(proto) and [p.key for p in proto.metadata_props][0] == "score"
    set_metadata(proto, {"only": 1}, replace=True)
    assert read_metadata(proto) == {"only": "1"}


def test_read_metadata_rejects_truncated_and_foreign_files(tmp_path):
    proto = export_onnx(*_build("mlp_layernorm")).model
    data = save_onnx(proto, tmp_path / "ok.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.onnx").write_text("not a model at all")
    for name in ("cut.onnx", "text.onnx", "absent.onnx"):
        with pytest.raises(ExportError):
            read_metadata(tmp_path / name)


def test_macs_and_params_match_hand_counts():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    proto = export_onnx(mlp, (1, 8, 8)).model
    assert count_macs(proto) == 64 * 32 + 32 * 10
    assert count_params(proto) == sum(p.numel() for p in mlp.parameters())
    conv = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1, groups=16))
    assert count_macs(export_onnx(conv, (3, 8, 8)).model) == 64 * 16 * 27 + 64 * 16 * 9
    lstm = export_onnx(*_build("lstm")).model  # 6 steps x 4 gates x 16 x (4 + 16), + linear
    assert count_macs(lstm) == 6 * 4 * 16 * (4 + 16) + 16 * 3
    attention = export_onnx(*_build("attention_softmax_matmul")).model
    assert count_macs(attention) == 2 * 5 * 8 * 8 + 2 * 5 * 5 * 8


def test_latency_is_a_positive_median():
    proto = export_onnx(*_build("mlp_layernorm")).model
    assert 0 < measure_latency(proto, repeats=5, warmup=1) < 1000


def test_cli_export_builds_and_exports_an_architecture(tmp_path, capsys):
    from bench.tasks import get_task
    from nas.cli import run_app
    from nas.space import load_space

    task = get_task("digits")
    arch = load_space("einspace").sample(task.input_shape, seed=0, head=task.head)
    out = tmp_path / "net.onnx"
    argv = ["export", str(arch), "--grammar", "einspace", "--task", "digits", "-o", str(out)]
    assert run_app(argv) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}")
    meta = read_metadata(out)
    assert list(meta)[0] == "exporter" and meta["arch_id"] == arch.id
    assert meta["grammar"] == "einspace" and meta["task"] == "digits"
    assert run_app(["export", "not an architecture", "-o", str(tmp_path / "x.onnx")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "x.onnx").exists()


def test_a_model_that_fails_in_torch_is_an_export_error():
    with pytest.raises(ExportError, match="fails on an input of shape 2x5 before export"):
        export_onnx(nn.Linear(4, 3), (5,))
