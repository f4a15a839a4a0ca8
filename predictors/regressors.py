"""Regressors from feature vectors to scores, each savable as plain arrays (no pickle).

* ``ridge``: closed-form ridge regression; ``alpha=None`` picks alpha from a grid by
  exact leave-one-out error (numpy only).
* ``gbm``: histogram gradient boosting (:mod:`predictors.boosting`, scikit-learn's
  HistGradientBoostingRegressor algorithm with the same predictions) whose trees are our
  own flat arrays, predicted with numpy: no private scikit-learn attribute is read and
  a saved predictor needs no scikit-learn.
* ``mlp``: a small torch MLP (ReLU hidden layers) trained with Adam on the mean squared
  error of standardized scores; with ``ranking=True`` a pairwise margin-ranking loss is
  added (as in ONNX-Net: margin 0.1, pairs with different scores, up to 4x batch-size
  pairs per batch). The margin is in units of the training scores' standard deviation.
  Inference is numpy.
* ``blend``: the mean prediction of several of these, by default gbm and mlp (the trees
  catch thresholds such as "too deep to train", the MLP smooth trends over widths and
  sizes; on the predictor store the mean ranks better than either, see
  docs/predictor.md).

Every regressor has ``fit(X, y) -> self``, ``predict(X) -> ndarray``,
``state() -> (config, arrays)`` and ``from_state(config, arrays)``.
"""

from __future__ import annotations

import inspect

import numpy as np

from nas.errors import PredictorError
from nas.registry import Registry
from predictors.boosting import BoostingParams, fit_trees, predict_trees

#: regressor classes by name (their ``kind``); filled at the end of this module
REGRESSORS: Registry[type] = Registry("regressor", error=PredictorError)


def make_regressor(name: str, *, ranking: bool = False, margin: float = 0.1,
                   random_state: int = 0, **params):
    """The regressor called ``name`` (see :data:`REGRESSORS`).

    ``ranking``, ``margin`` and ``random_state`` go to the regressors that take them.

    Raises:
        PredictorError: unknown name, or ``ranking=True`` with a regressor that has no
            ranking loss (only mlp has).
    """
    cls = REGRESSORS.get(name)
    accepted = inspect.signature(cls).parameters
    if ranking and "ranking" not in accepted:
        raise PredictorError(
            f"ranking=True trains with a pairwise margin loss, which needs regressor='mlp' "
            f"(got {name!r})"
        )
    shared = {"ranking": ranking, "margin": margin, "random_state": random_state}
    return cls(**{k: v for k, v in shared.items() if k in accepted}, **params)


def regressor_from_state(config: dict, arrays: dict[str, np.ndarray]):
    """Rebuild a fitted regressor from :meth:`state` output."""
    kind = config.get("kind")
    if kind not in REGRESSORS:
        raise PredictorError(f"predictor file names an unknown regressor {kind!r}")
    return REGRESSORS.get(kind).from_state(config, arrays)


def _check_xy(X, y=None) -> tuple[np.ndarray, np.ndarray | None]:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise PredictorError(f"features must be a 2-D array, got shape {X.shape}")
    if y is None:
        return X, None
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(y) != len(X):
        raise PredictorError(f"{len(X)} feature rows but {len(y)} scores")
    if not np.all(np.isfinite(y)):
        raise PredictorError("scores contain NaN or infinite values; drop failed records first")
    return X, y


# ---------------------------------------------------------------- ridge


class RidgeRegressor:
    """Ridge regression with an intercept, solved through one SVD.

    Args:
        alpha: L2 penalty; None picks it from ``alphas`` by leave-one-out error.
        alphas: the grid searched when ``alpha`` is None.
    """

    kind = "ridge"

    def __init__(self, alpha: float | None = None,
                 alphas: tuple[float, ...] = (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3)) -> None:
        self.alpha = alpha
        self.alphas = alphas

    def fit(self, X, y) -> RidgeRegressor:
        X, y = _check_xy(X, y)
        x_mean, y_mean = X.mean(axis=0), y.mean()
        U, s, Vt = np.linalg.svd(X - x_mean, full_matrices=False)
        Uty = U.T @ (y - y_mean)
        alpha = self.alpha if self.alpha is not None else self._loo_alpha(U, s, Uty, y - y_mean)
        self.alpha_ = float(alpha)
        self.coef_ = Vt.T @ (s / (s**2 + alpha) * Uty)
        self.intercept_ = float(y_mean - x_mean @ self.coef_)
        return self

    def _loo_alpha(self, U, s, Uty, yc) -> float:
        """The grid alpha with the smallest exact leave-one-out squared error."""
        n = len(yc)
        U2 = U**2
        best, best_err = self.alphas[0], np.inf
        for a in self.alphas:
            d = s**2 / (s**2 + a)
            residual = yc - U @ (d * Uty)
            h = 1.0 / n + U2 @ d
            err = np.mean((residual / np.maximum(1.0 - h, 1e-12)) ** 2)
            if err < best_err - 1e-12:
                best, best_err = a, err
        return best

    def predict(self, X) -> np.ndarray:
        X, _ = _check_xy(X)
        return X @ self.coef_ + self.intercept_

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return ({"kind": self.kind, "alpha": self.alpha_},
                {"coef": self.coef_, "intercept": np.array([self.intercept_])})

    @classmethod
    def from_state(cls, config: dict, arrays: dict) -> RidgeRegressor:
        r = cls(alpha=config["alpha"])
        r.alpha_, r.coef_ = config["alpha"], arrays["coef"]
        r.intercept_ = float(arrays["intercept"][0])
        return r


# ---------------------------------------------------------------- gradient boosting


class GbmRegressor:
    """Histogram gradient boosting (:mod:`predictors.boosting`: scikit-learn's algorithm,
    our own trees) with numpy inference."""

    kind = "gbm"

    def __init__(self, max_iter: int = 300, learning_rate: float = 0.05,
                 max_leaf_nodes: int = 15, min_samples_leaf: int = 10,
                 l2_regularization: float = 1.0, random_state: int = 0) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state  # kept for the API: boosting has no random choice

    def fit(self, X, y) -> GbmRegressor:
        X, y = _check_xy(X, y)
        if not np.all(np.isfinite(X)):
            raise PredictorError("gbm features contain NaN or infinite values")
        params = BoostingParams(
            max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=min(self.min_samples_leaf, max(1, len(y) // 4)),
            l2_regularization=self.l2_regularization)
        self.baseline_, self.trees_ = fit_trees(X, y, params)
        return self

    def predict(self, X) -> np.ndarray:
        X, _ = _check_xy(X)
        return predict_trees(self.trees_, self.baseline_, X)

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        arrays = {f"tree_{k}": v for k, v in self.trees_.items()}
        return {"kind": self.kind, "baseline": self.baseline_}, arrays

    @classmethod
    def from_state(cls, config: dict, arrays: dict) -> GbmRegressor:
        r = cls()
        r.trees_ = {k[5:]: v for k, v in arrays.items() if k.startswith("tree_")}
        r.baseline_ = float(config["baseline"])
        return r


# ---------------------------------------------------------------- blend


class BlendRegressor:
    """The mean prediction of several regressors fitted on the same features.

    Args:
        parts: names of the regressors to average (``"ridge"``, ``"gbm"``, ``"mlp"``).
        part_params: keyword arguments per part name (e.g. ``{"gbm": {"max_iter": 100}}``).
    """

    kind = "blend"

    def __init__(self, parts: tuple[str, ...] = ("gbm", "mlp"),
                 part_params: dict | None = None, random_state: int = 0) -> None:
        self.parts = tuple(parts)
        self.part_params = part_params
        self.random_state = random_state

    def fit(self, X, y) -> BlendRegressor:
        X, y = _check_xy(X, y)
        unknown = [p for p in self.parts if p not in REGRESSORS or p == "blend"]
        if not self.parts or unknown:
            raise PredictorError(f"blend parts must be some of ridge, gbm, mlp (got "
                                 f"{list(self.parts)})")
        params = self.part_params or {}
        self.parts_ = [make_regressor(name, random_state=self.random_state,
                                      **params.get(name, {})).fit(X, y)
                       for name in self.parts]
        return self

    def predict(self, X) -> np.ndarray:
        X, _ = _check_xy(X)
        return np.mean([part.predict(X) for part in self.parts_], axis=0)

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        configs, arrays = [], {}
        for i, part in enumerate(self.parts_):
            config, part_arrays = part.state()
            configs.append(config)
            arrays.update({f"p{i}_{name}": a for name, a in part_arrays.items()})
        return {"kind": self.kind, "parts": configs}, arrays

    @classmethod
    def from_state(cls, config: dict, arrays: dict) -> BlendRegressor:
        r = cls(parts=tuple(part["kind"] for part in config["parts"]))
        r.parts_ = []
        for i, part in enumerate(config["parts"]):
            prefix = f"p{i}_"
            own = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            r.parts_.append(regressor_from_state(part, own))
        return r


# ---------------------------------------------------------------- MLP


class MlpRegressor:
    """A small ReLU MLP on standardized scores, optionally with a margin-ranking loss."""

    kind = "mlp"

    def __init__(self, hidden: tuple[int, ...] = (64,), epochs: int = 150, lr: float = 1e-3,
                 weight_decay: float = 1e-4, batch_size: int = 64, ranking: bool = False,
                 margin: float = 0.1, random_state: int = 0) -> None:
        self.hidden = tuple(hidden)
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.ranking = ranking
        self.margin = margin
        self.random_state = random_state

    def fit(self, X, y) -> MlpRegressor:
        # torch: only the mlp regressor needs it; predictors runs without it otherwise
        import torch

        X, y = _check_xy(X, y)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std()) or 1.0
        gen = torch.Generator().manual_seed(self.random_state)
        net = self._network(X.shape[1], gen)
        xt = torch.as_tensor(X, dtype=torch.float32)
        yt = torch.as_tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float32)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        for _ in range(self.epochs):
            for batch in torch.randperm(len(xt), generator=gen).split(self.batch_size):
                pred = net(xt[batch]).squeeze(-1)
                loss = torch.nn.functional.mse_loss(pred, yt[batch])
                if self.ranking:
                    loss = loss + self._rank_loss(pred, yt[batch], gen)
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.weights_ = [p.detach().double().numpy().copy() for p in net.parameters()]
        return self

    def _network(self, n_in: int, gen):
        # torch: only the mlp regressor needs it; predictors runs without it otherwise
        import torch

        layers, width = [], n_in
        for h in self.hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        layers.append(torch.nn.Linear(width, 1))
        net = torch.nn.Sequential(*layers)
        with torch.no_grad():  # seeded init that does not touch the global RNG
            for p in net.parameters():
                bound = 1.0 / np.sqrt(p.shape[-1] if p.dim() > 1 else max(p.shape[0], 1))
                p.uniform_(-bound, bound, generator=gen)
        return net

    def _rank_loss(self, pred, target, gen):
        """Margin ranking over up to 4x batch random pairs with different scores."""
        # torch: only the mlp regressor needs it; predictors runs without it otherwise
        import torch

        n = len(pred)
        i = torch.randint(n, (4 * n,), generator=gen)
        j = torch.randint(n, (4 * n,), generator=gen)
        sign = torch.sign(target[i] - target[j])
        keep = sign != 0
        if not keep.any():
            return pred.sum() * 0.0
        return torch.nn.functional.margin_ranking_loss(
            pred[i][keep], pred[j][keep], sign[keep], margin=self.margin
        )

    def predict(self, X) -> np.ndarray:
        X, _ = _check_xy(X)
        h = X
        pairs = list(zip(self.weights_[::2], self.weights_[1::2], strict=True))
        for k, (w, b) in enumerate(pairs):
            h = h @ w.T + b
            if k < len(pairs) - 1:
                h = np.maximum(h, 0.0)
        return h[:, 0] * self.y_std_ + self.y_mean_

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        config = {"kind": self.kind, "hidden": list(self.hidden), "ranking": self.ranking,
                  "y_mean": self.y_mean_, "y_std": self.y_std_, "n_weights": len(self.weights_)}
        return config, {f"w{i}": w for i, w in enumerate(self.weights_)}

    @classmethod
    def from_state(cls, config: dict, arrays: dict) -> MlpRegressor:
        r = cls(hidden=tuple(config["hidden"]), ranking=config["ranking"])
        r.y_mean_, r.y_std_ = float(config["y_mean"]), float(config["y_std"])
        r.weights_ = [arrays[f"w{i}"] for i in range(int(config["n_weights"]))]
        return r


for _cls in (RidgeRegressor, GbmRegressor, MlpRegressor, BlendRegressor):
    REGRESSORS.register(_cls.kind, _cls)
