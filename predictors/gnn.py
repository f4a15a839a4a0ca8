"""A graph neural network over the ONNX graph: the learned encoder beside the hashed text.

:class:`GraphNetPredictor` reads the same :class:`~predictors.graph.GraphView` as
:class:`~predictors.predictor.OnnxNetPredictor` (so any ONNX file works) and learns its
own representation of it end to end, in torch:

* **nodes**: one per operator of the top-level graph, plus one per graph input. A node's
  features are its op (hashed into :data:`OP_BUCKETS` embedding rows, so an op no
  training graph had still gets a row, and the file needs no vocabulary) and numbers:
  log sizes of its output and of its parameters, its output's rank and last dimension,
  how many inputs it has, whether it holds weights, and whether it is an operator (not a
  graph input);
* **messages**: :data:`LAYERS` residual rounds, each summing the states of a node's
  producers and, separately, of its consumers (data flows both ways in a ranking:
  what a layer feeds matters as much as what feeds it);
* **readout**: the mean and the max of the node states, with the graph's structural
  features (:func:`~predictors.features.graph_features`, standardized on the training
  graphs), through a small MLP to one score.

It is trained with a pairwise ranking loss (logistic, on every pair of a minibatch whose
targets differ) plus a small squared error on the standardized target, as ONNX-Net
fine-tunes its encoder on ranks. Several networks (``n_models``) trained from different
seeds are averaged: one fit of a small GNN on a few hundred graphs varies with its seed.

    from predictors.gnn import GraphNetPredictor
    p = GraphNetPredictor().fit(views_or_paths, scores)
    p.predict(other_views_or_paths)
    p.save("g.predictor"); GraphNetPredictor.load("g.predictor")

Files use the predictor's zip format (``config.json``, ``arrays/*.npy``, sha256; no
pickle) under the format name ``onnxnet-gnn``.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import nas
from nas.errors import PredictorError
from predictors.features import FEATURE_NAMES, _numel, _type_shape, graph_features
from predictors.graph import GraphView
from predictors.predictor import ENCODING_VERSION, _views, read_file, write_file

#: embedding rows that op names are hashed into (crc32, stable across processes)
OP_BUCKETS = 512
#: message-passing rounds and the width of node states
LAYERS, WIDTH = 3, 64
#: numbers per node (see :func:`_node_numbers`)
NODE_NUMBERS = 7
FILE_FORMAT, FILE_FORMAT_VERSION = "onnxnet-gnn", (1, 0)


@dataclass(frozen=True)
class _Graph:
    """One graph as tensors: op buckets (N,), node numbers (N, NODE_NUMBERS), edges
    (2, E) as (producer, consumer) positions, and the graph's structural features."""

    ops: torch.Tensor
    numbers: torch.Tensor
    edges: torch.Tensor
    globals: np.ndarray


def _bucket(op: str) -> int:
    return zlib.crc32(op.encode()) % OP_BUCKETS


def _log(x: float) -> float:
    return math.log1p(max(x, 0.0))


def _node_numbers(shape, params: int, values: int, is_op: bool) -> list[float]:
    """A node's NODE_NUMBERS: log sizes of its output and parameters, output rank and last
    dimension, inputs, holds weights, is an operator (a graph input is not)."""
    numel = _numel(shape) if shape else 0
    last = shape[-1] if shape and shape[-1] else 0
    return [_log(numel), _log(params), float(len(shape)) if shape else 0.0, _log(last),
            float(values), float(params > 1), float(is_op)]


def _op_numbers(node) -> list[float]:
    shape = node.out_shapes[0] if node.out_shapes else None
    params = sum(a.numel for a in node.inputs if a.kind == "param" and a.is_float)
    return _node_numbers(shape, params, sum(a.kind == "value" for a in node.inputs), True)


def to_graph(view: GraphView) -> _Graph:
    """The tensors of ``view`` (sub-graphs are read through their owner's op only)."""
    producer: dict[str, int] = {}
    ops, numbers, src, dst = [], [], [], []
    for name, type_text in view.inputs:
        producer[name] = len(ops)
        ops.append(_bucket("input"))
        numbers.append(_node_numbers(_type_shape(type_text), 0, 0, False))
    for node in view.nodes:
        here = len(ops)
        for arg in node.inputs:
            if arg.kind == "value" and arg.text in producer:
                src.append(producer[arg.text])
                dst.append(here)
        for name in node.outputs:
            if name != "_":
                producer[name] = here
        ops.append(_bucket(node.op))
        numbers.append(_op_numbers(node))
    return _Graph(torch.tensor(ops, dtype=torch.long),
                  torch.tensor(numbers, dtype=torch.float32),
                  torch.tensor([src, dst], dtype=torch.long).reshape(2, -1),
                  graph_features(view).astype(np.float32))


class _Batch:
    """Several graphs as one disconnected graph, with each node's graph index."""

    def __init__(self, graphs: list[_Graph], globals_: torch.Tensor):
        offsets = np.cumsum([0] + [len(g.ops) for g in graphs[:-1]])
        self.ops = torch.cat([g.ops for g in graphs])
        self.numbers = torch.cat([g.numbers for g in graphs])
        self.edges = torch.cat([g.edges + int(o) for g, o in zip(graphs, offsets, strict=True)],
                               dim=1)
        self.owner = torch.cat([torch.full((len(g.ops),), i, dtype=torch.long)
                                for i, g in enumerate(graphs)])
        self.n_graphs, self.globals = len(graphs), globals_


class _Net(nn.Module):
    def __init__(self, n_globals: int):
        super().__init__()
        self.embed = nn.Embedding(OP_BUCKETS, WIDTH)
        self.lift = nn.Linear(NODE_NUMBERS, WIDTH)
        self.rounds = nn.ModuleList(
            nn.Sequential(nn.Linear(3 * WIDTH, WIDTH), nn.GELU(), nn.Linear(WIDTH, WIDTH))
            for _ in range(LAYERS))
        self.norms = nn.ModuleList(nn.LayerNorm(WIDTH) for _ in range(LAYERS))
        self.head = nn.Sequential(nn.Linear(2 * WIDTH + n_globals, WIDTH), nn.GELU(),
                                  nn.Linear(WIDTH, 1))

    def forward(self, b: _Batch) -> torch.Tensor:
        h = self.embed(b.ops) + self.lift(b.numbers)
        src, dst = b.edges
        for mix, norm in zip(self.rounds, self.norms, strict=True):
            from_producers = torch.zeros_like(h).index_add_(0, dst, h[src])
            from_consumers = torch.zeros_like(h).index_add_(0, src, h[dst])
            h = norm(h + mix(torch.cat([h, from_producers, from_consumers], dim=1)))
        index = b.owner.unsqueeze(1).expand_as(h)
        counts = torch.bincount(b.owner, minlength=b.n_graphs).clamp(min=1).unsqueeze(1)
        mean = torch.zeros(b.n_graphs, WIDTH).index_add_(0, b.owner, h) / counts
        top = torch.full((b.n_graphs, WIDTH), -1e4).scatter_reduce(0, index, h, "amax")
        return self.head(torch.cat([mean, top, b.globals], dim=1)).squeeze(1)


def _ranking_loss(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean logistic loss over the pairs of the batch whose targets differ."""
    diff_y = y.unsqueeze(0) - y.unsqueeze(1)
    diff_p = pred.unsqueeze(0) - pred.unsqueeze(1)
    mask = diff_y > 1e-6
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return nn.functional.softplus(-diff_p[mask]).mean()


class GraphNetPredictor:
    """Score ONNX graphs with a GNN trained on (graph, score) pairs (see the module
    docstring).

    Args:
        epochs: passes over the training graphs per network.
        n_models: networks averaged (each from its own seed).
        batch_size: graphs per step (also the ranking loss's pairs).
        lr, weight_decay: AdamW's.
        mse_weight: weight of the squared error beside the ranking loss.
        random_state: seed of the first network (the others follow it).
    """

    file_format, file_format_version = FILE_FORMAT, FILE_FORMAT_VERSION

    def __init__(self, epochs: int = 40, n_models: int = 3, batch_size: int = 64,
                 lr: float = 3e-3, weight_decay: float = 1e-4, mse_weight: float = 0.2,
                 random_state: int = 0):
        self.epochs, self.n_models, self.batch_size = epochs, n_models, batch_size
        self.lr, self.weight_decay, self.mse_weight = lr, weight_decay, mse_weight
        self.random_state = random_state
        self.nets_: list[_Net] = []
        self.metadata_: dict = {}

    def get_params(self, deep: bool = False) -> dict:
        return {"epochs": self.epochs, "n_models": self.n_models,
                "batch_size": self.batch_size, "lr": self.lr,
                "weight_decay": self.weight_decay, "mse_weight": self.mse_weight,
                "random_state": self.random_state}

    def __repr__(self) -> str:
        return f"GraphNetPredictor(epochs={self.epochs}, n_models={self.n_models})"

    def fit(self, models, scores, groups=None) -> GraphNetPredictor:
        """Train on ONNX models (paths, ModelProtos or GraphViews) and their scores
        (higher is better). ``groups`` is accepted for the predictors' common API."""
        graphs = [to_graph(v) for v in _views(models)]
        y = np.asarray(scores, dtype=np.float64)
        if len(graphs) != len(y):
            raise PredictorError(f"{len(graphs)} models but {len(y)} scores")
        if len(graphs) < 2 or not np.all(np.isfinite(y)):
            raise PredictorError("a GNN needs at least 2 models with finite scores")
        table = np.stack([g.globals for g in graphs])
        self.globals_mean_ = table.mean(0)
        self.globals_scale_ = np.where(table.std(0) > 1e-8, table.std(0), 1.0)
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std() or 1.0)
        target = torch.tensor((y - self.y_mean_) / self.y_scale_, dtype=torch.float32)
        self.nets_ = [self._train(graphs, target, self.random_state + k)
                      for k in range(self.n_models)]
        return self

    def _globals(self, graphs: list[_Graph]) -> torch.Tensor:
        table = (np.stack([g.globals for g in graphs]) - self.globals_mean_) / self.globals_scale_
        return torch.tensor(np.clip(table, -10, 10), dtype=torch.float32)

    def _train(self, graphs: list[_Graph], target: torch.Tensor, seed: int) -> _Net:
        torch.manual_seed(seed)
        net = _Net(len(FEATURE_NAMES))
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps = self.epochs * math.ceil(len(graphs) / self.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.lr, total_steps=steps)
        rng = np.random.default_rng(seed)
        net.train()
        for _ in range(self.epochs):
            order = rng.permutation(len(graphs))
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                part = [graphs[i] for i in idx]
                pred = net(_Batch(part, self._globals(part)))
                y = target[torch.as_tensor(idx)]
                loss = _ranking_loss(pred, y) + self.mse_weight * ((pred - y) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        net.eval()
        return net

    @torch.no_grad()
    def predict(self, models) -> np.ndarray:
        """Predicted scores (the training scores' scale) of ONNX models."""
        if not self.nets_:
            raise PredictorError("this GraphNetPredictor is not fitted; call fit() first")
        graphs = [to_graph(v) for v in _views(models)]
        out = np.zeros(len(graphs))
        for start in range(0, len(graphs), 256):
            part = graphs[start:start + 256]
            batch = _Batch(part, self._globals(part))
            out[start:start + len(part)] = np.mean(
                [net(batch).numpy() for net in self.nets_], axis=0)
        return out * self.y_scale_ + self.y_mean_

    # ------------------------------------------------------------ save / load

    def save(self, path: str | Path) -> Path:
        """Write the fitted predictor to ``path`` (one zip file, no pickle)."""
        if not self.nets_:
            raise PredictorError("this GraphNetPredictor is not fitted; call fit() first")
        arrays = {"globals_mean": self.globals_mean_, "globals_scale": self.globals_scale_}
        for k, net in enumerate(self.nets_):
            for name, tensor in net.state_dict().items():
                arrays[f"net{k}/{name}"] = tensor.numpy()
        config = {"format": self.file_format,
                  "format_version": "{}.{}".format(*self.file_format_version),
                  "platform_version": nas.__version__, "encoding_version": ENCODING_VERSION,
                  "params": self.get_params(),
                  "op_buckets": OP_BUCKETS, "layers": LAYERS, "width": WIDTH,
                  "graph_feature_names": list(FEATURE_NAMES),
                  "y_mean": self.y_mean_, "y_scale": self.y_scale_, "metadata": self.metadata_}
        return write_file(path, config, arrays)

    @classmethod
    def load(cls, path: str | Path) -> GraphNetPredictor:
        """Read a file written by :meth:`save` (PredictorError: missing, modified, or
        not a GNN predictor of this format's major version)."""
        config, arrays = read_file(path, cls.file_format, cls.file_format_version)
        if (config["op_buckets"], config["layers"], config["width"]) != (OP_BUCKETS, LAYERS,
                                                                         WIDTH):
            raise PredictorError(f"{path} was written for another network shape; retrain it")
        p = cls(**config["params"])
        p.globals_mean_, p.globals_scale_ = arrays["globals_mean"], arrays["globals_scale"]
        p.y_mean_, p.y_scale_ = config["y_mean"], config["y_scale"]
        p.metadata_ = config.get("metadata") or {}
        for k in range(p.n_models):
            net = _Net(len(FEATURE_NAMES))
            prefix = f"net{k}/"
            net.load_state_dict({name[len(prefix):]: torch.from_numpy(a.copy())
                                 for name, a in arrays.items() if name.startswith(prefix)})
            net.eval()
            p.nets_.append(net)
        return p
