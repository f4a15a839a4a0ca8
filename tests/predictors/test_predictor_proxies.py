"""Zero-cost proxies on small networks: reference values, orderings, determinism."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nas.errors import PredictorError
from predictors.proxies import (
    PROXIES,
    aten_flops,
    compute_proxies,
    grad_norm,
    jacov,
    naswot,
    param_count,
    snip,
    synflow,
)


def mlp(width: int, depth: int = 2) -> nn.Module:
    torch.manual_seed(0)
    layers, w = [], 16
    for _ in range(depth):
        layers += [nn.Linear(w, width), nn.ReLU()]
        w = width
    return nn.Sequential(*layers, nn.Linear(w, 10))


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(32, 16, generator=g), torch.randint(0, 10, (32,), generator=g)


def test_params_and_flops_match_hand_counts(batch):
    x, _ = batch
    net = mlp(8)
    assert param_count(net) == sum(p.numel() for p in net.parameters()) == 16 * 8 + 8 + 8 * 8 + 8 \
        + 8 * 10 + 10
    assert aten_flops(net, x) == 2 * (16 * 8 + 8 * 8 + 8 * 10)


def test_synflow_is_positive_and_grows_with_width(batch):
    x, _ = batch
    assert 0 < synflow(mlp(8), x) < synflow(mlp(64), x)


def test_naswot_is_higher_for_a_wider_net(batch):
    x, _ = batch
    assert naswot(mlp(64), x) > naswot(mlp(4), x)


def test_loss_based_proxies_are_positive_and_leave_the_model_untouched(batch):
    x, y = batch
    net = mlp(16)
    before = [p.detach().clone() for p in net.parameters()]
    assert grad_norm(net, x, y) > 0 and snip(net, x, y) > 0
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert math.isfinite(jacov(net, x))


def test_every_proxy_is_deterministic_given_a_seed(batch):
    x, y = batch
    net = nn.Sequential(nn.Linear(16, 32), nn.Dropout(0.5), nn.ReLU(), nn.Linear(32, 10))
    a = compute_proxies(net, x, y, seed=3)
    b = compute_proxies(net, x, y, seed=3)
    assert set(a) == set(PROXIES)
    assert a == b


def test_conv_nets_and_bad_requests(batch):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    x = torch.randn(8, 3, 8, 8)
    values = compute_proxies(net, x, torch.randint(0, 10, (8,)))
    assert values["aten_flops"] == pytest.approx(2 * (8 * 8 * 8 * 27) + 2 * 80, rel=0.01)
    assert values["synflow"] > 0 and math.isfinite(values["naswot"])
    with pytest.raises(PredictorError, match="unknown proxies"):
        compute_proxies(net, x, names=["zen"])
    with pytest.raises(PredictorError, match="need targets"):
        compute_proxies(net, x, names=["snip"])
    with pytest.raises(PredictorError, match="at least 2"):
        naswot(net, x[:1])


class _Decoder(nn.Module):
    """A learned start vector fed to an LSTMCell, as Ptr-Net's decoder does."""

    def __init__(self):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(4))
        self.cell, self.out = nn.LSTMCell(4, 6), nn.Linear(6, 3)

    def forward(self, x):
        h, _ = self.cell(self.start.expand(len(x), -1))
        return self.out(h) + x[:, :3]


class _Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 6, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0]


def test_aten_flops_runs_on_a_recurrent_cell_and_counts_only_known_kernels():
    # the LSTMCell's gates are addmm kernels torch's counter knows: 4*6*(4+6) MACs
    assert aten_flops(_Decoder(), torch.randn(2, 5)) == 2 * (4 * 6 * (4 + 6) + 6 * 3)
    # nn.LSTM's fused kernel is not among them: the proxy is not the store's macs
    assert aten_flops(_Encoder(), torch.randn(2, 5, 4)) == 0

