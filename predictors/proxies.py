"""Zero-cost proxies: scores of an untrained network from one batch of task data.

Baselines (and optional features) for the predictor, as in NAS-Bench-Suite-Zero. Each
function takes a ``torch.nn.Module`` and a batch ``x`` (``(B, *input_shape)``), some
also targets ``y``; each works on a deep copy (the caller's model, its gradients and
its mode are untouched) and is deterministic given ``seed`` (the RNG state is forked).

* ``params``: number of parameter elements.
* ``aten_flops``: floating-point operations of one sample's forward pass as torch runs
  it (2 per multiply-add), counted by ``torch.utils.flop_counter`` on the aten kernels
  it knows (matmul, conv, attention...). Not the store's ``macs`` (counted from the
  ONNX graph, docs/export_store.md): ``nn.LSTM``'s fused kernel counts 0 here (an
  ``LSTMCell``'s matmuls do count),
  and work torch repeats that the exported graph does once counts twice.
* ``synflow`` (Tanaka et al. 2020): sum |theta * dR/dtheta| with R the summed output of
  the network with |theta| on an all-ones input, in float64, eval mode.
* ``naswot`` (Mellor et al. 2021): log|det K| where K[i, j] counts the activation units
  (ReLU-like modules) on which samples i and j agree; needs a batch of >= 2.
* ``grad_norm``: sum over parameters of the L2 norm of the loss gradient.
* ``snip`` (Lee et al. 2019): sum |theta * dL/dtheta|.
* ``jacov`` (Mellor et al. 2020 v1): -sum(log(l + k) + 1/(l + k)) over the eigenvalues
  l of the correlation matrix of per-sample input Jacobians, k = 1e-5.

The loss is cross-entropy for integer targets with 2-D outputs (and for pointer outputs
``(B, N, N)``), else mean squared error; pass ``loss_fn`` to override.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from nas.errors import PredictorError

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: modules whose outputs give NASWOT's binary activation codes
ACTIVATIONS = (
    torch.nn.ReLU, torch.nn.LeakyReLU, torch.nn.ReLU6, torch.nn.ELU, torch.nn.SELU,
    torch.nn.GELU, torch.nn.SiLU, torch.nn.PReLU, torch.nn.Mish, torch.nn.Hardswish,
)


def param_count(model: torch.nn.Module) -> int:
    """Number of parameter elements (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters())


def aten_flops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Forward FLOPs per sample (aten-level count, 2 per multiply-accumulate)."""
    # parameters frozen rather than no_grad: the counter's module tracker fails under
    # no_grad on modules that feed a parameter to a submodule (an LSTMCell's start input)
    net = _copy(model).eval().requires_grad_(False)
    with FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() / max(len(x), 1)


def synflow(model: torch.nn.Module, x: torch.Tensor, *, seed: int = 0) -> float:
    """SynFlow saliency of the whole network (positive for any network with a path)."""
    with _seeded(seed):
        net = _copy(model).double().eval()
        with torch.no_grad():
            for p in net.parameters():
                p.abs_()
        ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64)
        net(ones).sum().backward()
        return _saliency(net)


def naswot(model: torch.nn.Module, x: torch.Tensor, *, seed: int = 0) -> float:
    """log|det K| of the activation-pattern kernel of a batch (higher: more expressive)."""
    if len(x) < 2:
        raise PredictorError("naswot needs a batch of at least 2 samples")
    with _seeded(seed):
        net = _copy(model).train()
        codes: list[torch.Tensor] = []
        hooks = [m.register_forward_hook(lambda _m, _i, out: codes.append(_code(out)))
                 for m in net.modules() if isinstance(m, ACTIVATIONS)]
        if not hooks:  # no activation modules: use the sign of every leaf module's output
            hooks = [m.register_forward_hook(lambda _m, _i, out: codes.append(_code(out)))
                     for m in net.modules() if not list(m.children())]
        with torch.no_grad():
            net(x)
        for h in hooks:
            h.remove()
        if not codes:
            return 0.0
        c = torch.cat(codes, dim=1).double()
        kernel = c @ c.T + (1 - c) @ (1 - c).T
        return float(torch.linalg.slogdet(kernel)[1])


def grad_norm(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0,
              loss_fn: Loss | None = None) -> float:
    """Sum of the per-parameter L2 norms of the loss gradient."""
    net = _loss_backward(model, x, y, seed, loss_fn)
    return float(sum(p.grad.norm() for p in net.parameters() if p.grad is not None))


def snip(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0,
         loss_fn: Loss | None = None) -> float:
    """SNIP saliency: sum |theta * dL/dtheta|."""
    net = _loss_backward(model, x, y, seed, loss_fn)
    return _saliency(net)


def jacov(model: torch.nn.Module, x: torch.Tensor, *, seed: int = 0) -> float:
    """Jacobian-covariance score of the batch (higher: less correlated input Jacobians)."""
    if len(x) < 2:
        raise PredictorError("jacov needs a batch of at least 2 samples")
    with _seeded(seed):
        net = _copy(model).train()
        inp = x.detach().clone().float().requires_grad_(True)
        net(inp).sum().backward()
        jac = inp.grad.reshape(len(x), -1).double()
        corr = torch.corrcoef(jac)
        corr = torch.nan_to_num(corr, nan=0.0)
        eig = torch.linalg.eigvalsh(corr).clamp_min(0.0)
        k = 1e-5
        return float(-torch.sum(torch.log(eig + k) + 1.0 / (eig + k)))


#: proxy name -> function(model, x, y, seed, loss_fn) -> float
PROXIES: dict[str, Callable[..., float]] = {
    "params": lambda m, x, y, seed, loss_fn: float(param_count(m)),
    "aten_flops": lambda m, x, y, seed, loss_fn: aten_flops(m, x),
    "synflow": lambda m, x, y, seed, loss_fn: synflow(m, x, seed=seed),
    "naswot": lambda m, x, y, seed, loss_fn: naswot(m, x, seed=seed),
    "grad_norm": lambda m, x, y, seed, loss_fn: grad_norm(m, x, y, seed=seed, loss_fn=loss_fn),
    "snip": lambda m, x, y, seed, loss_fn: snip(m, x, y, seed=seed, loss_fn=loss_fn),
    "jacov": lambda m, x, y, seed, loss_fn: jacov(m, x, seed=seed),
}


def compute_proxies(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *,
                    names: list[str] | None = None, seed: int = 0,
                    loss_fn: Loss | None = None) -> dict[str, float]:
    """Every proxy in ``names`` (default: all of :data:`PROXIES`) for one network.

    A proxy that fails numerically (e.g. a singular kernel) is NaN rather than an error.

    Raises:
        PredictorError: an unknown proxy name, or a loss-based proxy without targets.
    """
    names = list(PROXIES) if names is None else names
    unknown = [n for n in names if n not in PROXIES]
    if unknown:
        raise PredictorError(f"unknown proxies {unknown}; known: {', '.join(PROXIES)}")
    if y is None and {"grad_norm", "snip"} & set(names):
        raise PredictorError("grad_norm and snip need targets y")
    out = {}
    for name in names:
        try:
            value = PROXIES[name](model, x, y, seed, loss_fn)
        except (RuntimeError, torch.linalg.LinAlgError):
            value = math.nan
        out[name] = value if np.isfinite(value) else math.nan
    return out


# ---------------------------------------------------------------- helpers


def _copy(model: torch.nn.Module) -> torch.nn.Module:
    net = copy.deepcopy(model)
    net.zero_grad(set_to_none=True)
    return net


class _seeded:
    """Fork the CPU RNG and seed it, so a proxy is deterministic and leaves no trace."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __enter__(self):
        self._fork = torch.random.fork_rng(devices=[])
        self._fork.__enter__()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc):
        return self._fork.__exit__(*exc)


def _saliency(net: torch.nn.Module) -> float:
    """sum |theta * grad| over the parameters that received a gradient."""
    with torch.no_grad():
        return float(sum((p * p.grad).abs().sum() for p in net.parameters()
                         if p.grad is not None))


def _code(out) -> torch.Tensor:
    out = out[0] if isinstance(out, (tuple, list)) else out
    return (out.detach().reshape(out.shape[0], -1) > 0).float()


def default_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for class targets (incl. pointer outputs), MSE otherwise."""
    if not targets.is_floating_point():
        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))
    return F.mse_loss(outputs, targets.reshape(outputs.shape))


def _loss_backward(model, x, y, seed, loss_fn) -> torch.nn.Module:
    with _seeded(seed):
        net = _copy(model).train()
        (loss_fn or default_loss)(net(x), y).backward()
    return net
