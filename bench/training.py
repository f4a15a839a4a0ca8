"""A fast training loop for small models: tensors in memory, manual shuffled minibatches.

    from bench.training import HParams, Budget, train_model
    result = train_model(model, task, HParams(lr=1e-3), Budget(max_epochs=10))
    result.val_score, result.test_score, result.best_epoch, result.history

What it does, per epoch: shuffle the training rows with a seeded generator, step through
minibatches (no DataLoader: the data already sits in memory as tensors), set the cosine
learning rate of each step, optionally clip gradients and add annealed gradient noise,
then score the validation split in eval mode under ``no_grad`` in large batches. The
weights of the best validation epoch are kept; at the end they are loaded back into
``model`` and the test split is scored once with them (test never selects anything).

Failures a search must survive raise :class:`~nas.errors.TrainingError` with the reason:
non-finite loss or validation score, out of memory, time budget exceeded, or a runtime
error inside the model. With an Optuna ``trial`` the validation score of every epoch is
reported and ``optuna.TrialPruned`` is raised when the study's pruner says so.

Threads: the caller decides (``torch.set_num_threads``); this module never changes them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import optuna
import torch
from torch import nn

from bench.augment import augmenter
from bench.tasks.base import Split, Task
from nas.errors import TrainingError, first_line
from nas.records import from_known_keys

OPTIMIZERS = ("adamw", "sgd")
NOISE_DECAY = 0.55  # gamma of Neelakantan et al. (2015): sigma_t^2 = eta / (1 + t)^gamma
#: a run is failed as soon as its projected length exceeds its time budget this much
#: (:meth:`_Loop.check_projection`); the margin absorbs an epoch slowed by a busy machine
PROJECTION_SLACK = 1.2


@dataclass(frozen=True)
class HParams:
    """Training hyperparameters of one run (the search space of the tuner covers most).

    ``grad_noise`` is eta of annealed gradient noise (Neelakantan et al. 2015): at step t
    every gradient gets N(0, eta / (1 + t)^0.55) added; 0 disables it. ``grad_clip`` is a
    max global gradient norm; 0 disables it. ``momentum`` is used by SGD only.
    ``augment`` applies the task's augmentation to every training minibatch (an error for
    a task that declares none).
    """

    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    optimizer: str = "adamw"
    momentum: float = 0.9
    grad_noise: float = 0.0
    grad_clip: float = 0.0
    augment: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not one of {OPTIMIZERS}")
        if not (self.lr > 0 and self.batch_size >= 1 and self.weight_decay >= 0
                and self.grad_noise >= 0 and self.grad_clip >= 0 and 0 <= self.momentum < 1):
            raise ValueError(f"invalid hyperparameters {self}: need lr > 0, batch_size >= 1, "
                             "weight_decay/grad_noise/grad_clip >= 0, 0 <= momentum < 1")

    @classmethod
    def from_dict(cls, values: dict) -> HParams:
        """Build from a dict (e.g. stored JSON); unknown keys are an error."""
        return from_known_keys(cls, values, "hyperparameter")

    def to_dict(self) -> dict:
        """Plain dict, JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class Budget:
    """Limits of one training run: epochs (also the cosine schedule's length) and seconds.

    Exceeding ``max_seconds`` fails the run (TrainingError); ``None`` means no limit.
    """

    max_epochs: int = 10
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or (self.max_seconds is not None and self.max_seconds <= 0):
            raise ValueError(f"invalid budget {self}: need max_epochs >= 1, max_seconds > 0")


@dataclass
class TrainResult:
    """Outcome of :func:`train_model`.

    ``val_score`` is the best validation score over epochs (the lower validation loss
    among epochs of equal score: a small validation set ties often), ``val_loss`` the
    task's loss on the validation split at that epoch, ``test_score`` the test score of
    the weights of that epoch (``best_epoch``); ``epochs`` counts epochs run; ``history``
    has one dict per epoch: epoch, train_loss, val_score, val_loss, lr, seconds.
    """

    val_score: float
    test_score: float
    best_epoch: int
    epochs: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False  # ``on_epoch`` ended the run before ``max_epochs``
    val_loss: float = math.nan


def train_model(model: nn.Module, task: Task, hparams: HParams | None = None,
                budget: Budget | None = None, *, trial=None, device: str = "cpu",
                seed: int = 0, eval_batch_size: int = 1024,
                on_epoch: Callable[[int, float], bool] | None = None) -> TrainResult:
    """Train ``model`` on ``task`` and score it (see the module docstring).

    Args:
        model: maps ``(B, *task.input_shape)`` to the task's head outputs. Trained in
            place; on return it holds the weights of the best validation epoch.
        task: data, loss and metric.
        hparams, budget: defaults ``HParams()``, ``Budget()``.
        trial: an Optuna trial to report per-epoch validation scores to (pruning).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when present).
        seed: seeds minibatch order, dropout and gradient noise (not the model's init).
        eval_batch_size: rows per forward pass when scoring.
        on_epoch: called with (epoch, validation score) after every epoch but the last;
            False ends the run there, as a finished run of fewer epochs (the search's
            successive halving across architectures, :mod:`nas.search.fidelity`).

    Returns:
        TrainResult.

    Raises:
        TrainingError: non-finite loss/score, out of memory, timeout, a runtime error in
            the model, or CUDA asked for but absent.
        optuna.TrialPruned: the trial's pruner stopped the run.
    """
    hparams, budget = hparams or HParams(), budget or Budget()
    dev = resolve_device(device)
    started = time.perf_counter()
    try:
        with _seeded(seed, dev):
            loop = _Loop(model, task, hparams, budget, dev, seed, eval_batch_size, started)
            loop.on_epoch = on_epoch
            return loop.run(trial)
    except TrainingError:
        raise
    except MemoryError as exc:
        raise TrainingError(f"out of memory: {first_line(exc)}") from exc
    except RuntimeError as exc:  # torch's own OOM errors are RuntimeErrors too
        if _is_oom(exc):
            raise TrainingError(f"out of memory: {first_line(exc)}") from exc
        raise TrainingError(f"runtime error in the model: {first_line(exc)}") from exc


class _Loop:
    """The state of one training run; :meth:`run` is the whole algorithm."""

    def __init__(self, model: nn.Module, task: Task, hp: HParams, budget: Budget,
                 dev: torch.device, seed: int, eval_batch_size: int, started: float) -> None:
        self.model, self.task, self.hp, self.budget, self.dev = model.to(dev), task, hp, budget, dev
        self.eval_batch_size, self.started = eval_batch_size, started
        self.deadline = started + budget.max_seconds if budget.max_seconds else math.inf
        self.x, self.y = task.train.x.to(dev), task.train.y.to(dev)
        self.batch_size = min(hp.batch_size, len(self.x))
        # a last batch of one row would break BatchNorm in train mode: drop that row
        self.n_used = len(self.x) - (1 if len(self.x) % self.batch_size == 1 else 0)
        steps = math.ceil(self.n_used / self.batch_size) * budget.max_epochs
        self.lrs = [hp.lr * 0.5 * (1 + math.cos(math.pi * t / steps)) for t in range(steps)]
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise TrainingError("the model has no trainable parameters")
        self.optimizer = make_optimizer(self.params, hp)
        self.generator = torch.Generator().manual_seed(seed)
        self.augment = _augmenter(task, hp, self.generator)
        self.step = 0
        self.on_epoch: Callable[[int, float], bool] | None = None

    def run(self, trial) -> TrainResult:
        best_val, best_loss, best_epoch, best_state, history = None, math.inf, 0, None, []
        for epoch in range(1, self.budget.max_epochs + 1):
            t0 = time.perf_counter()
            loss = self.train_epoch()
            if not math.isfinite(loss):
                raise TrainingError(f"training loss became {loss} in epoch {epoch} "
                                    f"(lr={self.hp.lr:.3g}); a lower learning rate may help")
            val, val_loss = evaluate_with_loss(self.model, self.task, self.task.val, self.dev,
                                               self.eval_batch_size)
            if not math.isfinite(val):
                raise TrainingError(f"validation {self.task.metric} is {val} in epoch {epoch}")
            history.append({"epoch": epoch, "train_loss": loss, "val_score": val,
                            "val_loss": val_loss, "lr": self.lrs[self.step - 1],
                            "seconds": time.perf_counter() - t0})
            if best_val is None or _better(val, best_val, self.task.higher_is_better) or (
                    val == best_val and val_loss < best_loss):
                best_val, best_loss, best_epoch = val, val_loss, epoch
                best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            if epoch < self.budget.max_epochs:  # a finished run is never thrown away
                self.check_time(f"after epoch {epoch}")
            if trial is not None:
                _report(trial, val, epoch)
            if (epoch < self.budget.max_epochs and self.on_epoch is not None
                    and not self.on_epoch(epoch, val)):
                break
            if epoch < self.budget.max_epochs:  # after the judge: a rung's score is kept
                self.check_projection(epoch, history[-1]["seconds"])
        self.model.load_state_dict(best_state)
        test = evaluate(self.model, self.task, self.task.test, self.dev, self.eval_batch_size)
        return TrainResult(best_val, test, best_epoch, len(history),
                           time.perf_counter() - self.started, history,
                           stopped_early=len(history) < self.budget.max_epochs,
                           val_loss=best_loss)

    def train_epoch(self) -> float:
        """One pass over the shuffled training rows; returns the mean minibatch loss."""
        # locals: attribute look-ups in the hot loop cost more than the tiny models' math
        model, opt, x, y, bs, lrs = (self.model, self.optimizer, self.x, self.y,
                                     self.batch_size, self.lrs)
        groups, loss_fn, augment = opt.param_groups, self.task.loss, self.augment
        clip, eta = self.hp.grad_clip, self.hp.grad_noise
        model.train()
        order = torch.randperm(len(x), generator=self.generator).to(self.dev)
        total = torch.zeros((), device=self.dev)
        batches = 0
        for start in range(0, self.n_used, bs):
            idx = order[start:start + bs]
            for group in groups:
                group["lr"] = lrs[self.step]
            batch = x[idx] if augment is None else augment(x[idx])
            loss = loss_fn(model(batch), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(self.params, clip)
            if eta:
                add_gradient_noise(self.params, eta, self.step)
            opt.step()
            total += loss.detach()  # summed on device: no host sync per step
            self.step += 1
            batches += 1
            if time.perf_counter() > self.deadline:
                self.check_time(f"in epoch step {batches}")
        return float(total) / batches

    def check_projection(self, epoch: int, epoch_seconds: float) -> None:
        """Fail now a run whose remaining epochs, at the pace of the last one, would end
        well past its budget (:data:`PROJECTION_SLACK`): it would time out anyway, only
        later. Heavy architectures in a search (a widened network after a convolution
        was added) otherwise spent their whole budget, twice with two tuning trials,
        before failing."""
        if not self.budget.max_seconds:
            return
        elapsed = time.perf_counter() - self.started
        projected = elapsed + epoch_seconds * (self.budget.max_epochs - epoch)
        if projected > self.budget.max_seconds * PROJECTION_SLACK:
            raise TrainingError(
                f"timeout: {self.budget.max_epochs} epochs would take about {projected:.0f} s "
                f"(epoch {epoch} took {epoch_seconds:.1f} s), more than the budget of "
                f"{self.budget.max_seconds:g} s")

    def check_time(self, where: str) -> None:
        elapsed = time.perf_counter() - self.started
        if time.perf_counter() > self.deadline:
            raise TrainingError(f"timeout: {elapsed:.1f} s exceeds the budget of "
                                f"{self.budget.max_seconds:g} s ({where})")


def _augmenter(task: Task, hp: HParams, generator: torch.Generator):
    if not hp.augment:
        return None
    if task.augmentation is None:
        raise TrainingError(f"augment=True, but task {task.name!r} declares no augmentation; "
                            "leave augment off for it")
    return augmenter(task.augmentation, generator)


def make_optimizer(params: list[nn.Parameter], hp: HParams) -> torch.optim.Optimizer:
    """AdamW or SGD with momentum, as ``hp`` says, in torch's fused form when it can be.

    The fused kernels update all parameters in one call: on CPU, for models made of many
    small tensors (as sampled architectures are), a step is several times faster than
    torch's default per-tensor loop. Where fusing is unsupported the default is used.
    """
    if hp.optimizer == "adamw":
        cls, kwargs = torch.optim.AdamW, {"lr": hp.lr, "weight_decay": hp.weight_decay}
    else:
        cls, kwargs = torch.optim.SGD, {"lr": hp.lr, "momentum": hp.momentum,
                                        "weight_decay": hp.weight_decay}
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, ValueError, TypeError):
        return cls(params, **kwargs)


def add_gradient_noise(params: list[nn.Parameter], eta: float, step: int) -> None:
    """Add N(0, eta / (1 + step)^0.55) to every gradient (Neelakantan et al. 2015)."""
    std = math.sqrt(eta / (1 + step) ** NOISE_DECAY)
    for p in params:
        if p.grad is not None:
            p.grad.add_(torch.randn_like(p.grad), alpha=std)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, device: torch.device | str = "cpu",
            batch_size: int = 1024) -> torch.Tensor:
    """Head outputs for every row of ``x``, in eval mode, as a float CPU tensor."""
    model.eval()
    device = torch.device(device)
    outs = [model(x[i:i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    return torch.cat(outs).float().cpu()


def evaluate(model: nn.Module, task: Task, split: Split, device: torch.device | str = "cpu",
             batch_size: int = 1024) -> float:
    """The task metric of ``model`` on ``split``."""
    return task.score(predict(model, split.x, device, batch_size), split)


def evaluate_with_loss(model: nn.Module, task: Task, split: Split,
                       device: torch.device | str = "cpu", batch_size: int = 1024
                       ) -> tuple[float, float]:
    """(the task metric, the task's loss) of ``model`` on ``split``, from one pass; a
    non-finite loss is reported as inf (it only breaks ties between equal scores)."""
    outputs = predict(model, split.x, device, batch_size)
    with torch.no_grad():
        loss = float(task.loss(outputs, split.y.to(outputs.device)))
    return task.score(outputs, split), loss if math.isfinite(loss) else math.inf


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when present else CPU; TrainingError if CUDA is asked but absent."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device {device!r} asked for but CUDA is not available here; "
                            "use device 'cpu' or 'auto'")
    return dev


@contextmanager
def _seeded(seed: int, dev: torch.device):
    """Seed torch's global RNGs (dropout, noise) for the run, restoring them afterwards."""
    cuda = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def _report(trial, value: float, epoch: int) -> None:
    trial.report(value, epoch)
    if trial.should_prune():
        raise optuna.TrialPruned(f"pruned after epoch {epoch} (validation {value:.4g})")


def _better(value: float, best: float, higher_is_better: bool) -> bool:
    return value > best if higher_is_better else value < best


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text
