"""TrainabilityClassifier: the probability that a network leaves chance, from its ONNX graph.

    from predictors.trainability import TrainabilityClassifier
    c = TrainabilityClassifier().fit(models, leaves_chance)   # leaves_chance: bools
    c.predict_proba(models)[:, 1]      # P(leaves chance) per model
    c.score(models, leaves_chance)     # ROC AUC
    c.save("t.classifier"); TrainabilityClassifier.load("t.classifier")

A search's filter: most grammar samples never leave chance (on digits after 4 epochs,
112 of 244 einspace samples score below 12%), and a classifier that sees this from the
graph spares their training. It reads the same features as
:class:`~predictors.predictor.OnnxNetPredictor` (hashed ONNX text + graph numbers) and
fits a regressor of :mod:`predictors.regressors` (default ``gbm``) to the 0/1 label:
least squares on an indicator estimates its probability (a Brier-score fit), and
boosted trees catch the thresholds (too deep, too narrow) that decide trainability.
``predict_proba`` clips that estimate to [0, 1].

What "leaves chance" means is the caller's (it knows the task): the maintainer's study
(``maintainer/trainability.py``) labels digits records by validation accuracy > 0.2,
twice chance. Saved files are the predictor's zip format (no pickle, sha256-checked)
under their own format name ``onnxnet-trainability``, version 1.0.
"""

from __future__ import annotations

import numpy as np

from nas.errors import PredictorError
from predictors.metrics import roc_auc
from predictors.predictor import OnnxNetPredictor


class TrainabilityClassifier(OnnxNetPredictor):
    """P(a network leaves chance) from its ONNX graph; the predictor's options, with
    ``regressor="gbm"`` by default (see the module docstring)."""

    file_format = "onnxnet-trainability"
    file_format_version = (1, 0)
    #: the labels, as scikit-learn's classifiers name them (column order of predict_proba)
    classes_ = np.array([False, True])

    def __init__(
        self, *, encoder: str = "hashing", regressor: str = "gbm", ranking: bool = False,
        features: str = "text+graph", max_chars: int | None = None, n_features: int = 2**14,
        min_df: int = 2, max_columns: int = 4096, margin: float = 0.1,
        regressor_params: dict | None = None, size_prior: bool = False,
        random_state: int = 0,
    ) -> None:
        super().__init__(encoder=encoder, regressor=regressor, ranking=ranking,
                         features=features, max_chars=max_chars, n_features=n_features,
                         min_df=min_df, max_columns=max_columns, margin=margin,
                         regressor_params=regressor_params, size_prior=size_prior,
                         random_state=random_state)

    def fit(self, models, labels, groups=None) -> TrainabilityClassifier:
        """Learn P(label) from models and boolean labels (True: leaves chance).

        Raises:
            PredictorError: labels that are not booleans (or 0/1), one class only, or
                any failure of :meth:`OnnxNetPredictor.fit`.
        """
        y = np.asarray(labels).reshape(-1)
        if y.dtype != bool and not np.isin(y, (0, 1)).all():
            raise PredictorError("trainability labels must be booleans (True: leaves chance)")
        y = y.astype(bool)
        if y.all() or not y.any():
            raise PredictorError("trainability needs both networks that leave chance and "
                                 "networks that do not; the labels hold one class only")
        super().fit(models, y.astype(np.float64), groups)
        return self

    def predict_proba(self, models) -> np.ndarray:
        """``(n, 2)`` array: P(stays at chance), P(leaves chance), per model."""
        p = np.clip(super().predict(models), 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict(self, models) -> np.ndarray:
        """True where P(leaves chance) >= 0.5."""
        return self.predict_proba(models)[:, 1] >= 0.5

    def score(self, models, labels) -> float:
        """ROC AUC of P(leaves chance) against the boolean ``labels``."""
        return roc_auc(self.predict_proba(models)[:, 1], labels)
