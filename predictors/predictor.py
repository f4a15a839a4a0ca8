"""OnnxNetPredictor: ONNX graph -> text -> encoder -> regressor, as a scikit-learn estimator.

    from predictors import OnnxNetPredictor
    p = OnnxNetPredictor(encoder="hashing", regressor="ridge").fit(models, scores)
    p.predict(["a.onnx", model_proto])   # -> np.ndarray of predicted scores
    p.score(models, scores)              # Kendall tau
    p.save("my.predictor"); OnnxNetPredictor.load("my.predictor")

Models are ONNX file paths, ``onnx.ModelProto`` objects, or
:class:`~predictors.graph.GraphView` objects already loaded with
:func:`~predictors.graph.load_graph` (to read each file once when fitting many
predictors on the same models).

It is a scikit-learn estimator (``BaseEstimator``): ``clone``, ``get_params`` /
``set_params`` (also nested, inside a ``Pipeline``) and ``NotFittedError`` work.

A saved predictor is one zip file: ``config.json`` (the file format version
``MAJOR.MINOR``, the init parameters, the platform version, the regressor's
configuration, optional metadata), ``arrays/<name>.npy`` (read with
``allow_pickle=False``) and ``content.sha256`` (sha256 over every other member):
loading never executes code, and a modified file is rejected. A release reads every
file of its format's major version (a minor version only adds what older readers may
ignore); another major version is refused with one line saying what to do.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import onnx
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

import nas
from nas.errors import PredictorError
from nas.paths import input_file, output_file
from predictors.encoders import ENCODERS, HashingEncoder, make_encoder
from predictors.features import FEATURE_NAMES, graph_features, macs
from predictors.graph import GraphView, load_graph
from predictors.metrics import kendall_tau
from predictors.regressors import REGRESSORS, make_regressor, regressor_from_state
from predictors.size_prior import SizePrior, choose_weight, fit_prior
from predictors.text import DEFAULT_MAX_CHARS, render

#: feature blocks accepted by ``features=``
FEATURE_SETS = ("text", "graph", "text+graph")
#: file format written by :meth:`OnnxNetPredictor.save`, version (major, minor): a reader
#: reads every minor version of its major; bump the minor for additions that older
#: readers may ignore, the major for anything else
FILE_FORMAT = "onnxnet-predictor"
FORMAT_VERSION = (1, 0)
#: bump when the text, its tokens or the graph features change meaning
ENCODING_VERSION = 2

_CHECKSUM = "content.sha256"
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed member dates: the same predictor gives the same bytes


class NotFittedError(PredictorError, _SklearnNotFittedError):
    """Predict or save before ``fit``: a :class:`PredictorError` (one line on the command
    line) that is also scikit-learn's ``NotFittedError``."""


class OnnxNetPredictor(BaseEstimator):
    """Predict an architecture's score from its ONNX graph.

    Args:
        encoder: ``"hashing"`` (built in, fast) or ``"minilm"`` (needs the ``minilm`` extra).
        regressor: ``"ridge"``, ``"gbm"``, ``"mlp"`` or ``"blend"`` (mean of gbm and mlp;
            ``regressor_params={"parts": [...]}`` picks others).
        ranking: add ONNX-Net's pairwise margin-ranking loss (``regressor="mlp"`` only).
        features: ``"text"`` (encoder output), ``"graph"`` (structural numbers: params,
            MACs, depth, wiring, op counts, weight-layer profile) or ``"text+graph"``.
        max_chars: length bound of the text; None uses the encoder's (hashing: 20,000
            characters, MiniLM: 450).
        n_features: hash buckets of the hashing encoder.
        min_df: hashing buckets used by fewer training models are dropped.
        max_columns: at most this many hashing buckets are kept (the most frequent).
        margin: margin of the ranking loss (in standard deviations of the scores).
        regressor_params: extra keyword arguments of the regressor (e.g. ``{"alpha": 1.0}``
            for ridge, ``{"hidden": [128], "epochs": 200}`` for mlp).
        size_prior: mix the output with log(1 + params) + log(1 + MACs), with a weight
            chosen in ``fit`` by held-out ranking on the training set (see
            :mod:`predictors.size_prior`; costs one extra fit per group or fold).
        random_state: seed of every random choice in fitting.
    """

    #: what :meth:`save` writes and :meth:`load` reads (a subclass names its own format)
    file_format = FILE_FORMAT
    file_format_version = FORMAT_VERSION

    def __init__(
        self, *, encoder: str = "hashing", regressor: str = "ridge", ranking: bool = False,
        features: str = "text+graph", max_chars: int | None = None, n_features: int = 2**14,
        min_df: int = 2, max_columns: int = 4096, margin: float = 0.1,
        regressor_params: dict | None = None, size_prior: bool = False,
        random_state: int = 0,
    ) -> None:
        self.encoder = encoder
        self.regressor = regressor
        self.ranking = ranking
        self.features = features
        self.max_chars = max_chars
        self.n_features = n_features
        self.min_df = min_df
        self.max_columns = max_columns
        self.margin = margin
        self.regressor_params = regressor_params
        self.size_prior = size_prior
        self.random_state = random_state

    # ------------------------------------------------------------ estimator contract

    def set_params(self, **params) -> OnnxNetPredictor:
        """Set init parameters (scikit-learn's ``set_params``); raises PredictorError
        for an unknown name."""
        valid = self.get_params(deep=False)
        unknown = sorted({name.split("__")[0] for name in params} - set(valid))
        if unknown:
            raise PredictorError(f"unknown parameter {unknown[0]!r} for OnnxNetPredictor; "
                                 f"valid: {', '.join(valid)}")
        return super().set_params(**params)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "regressor_")

    # ------------------------------------------------------------ fit / predict

    def fit(self, models, scores, groups=None) -> OnnxNetPredictor:
        """Learn scores from models (paths, ModelProtos or GraphViews); returns ``self``.

        ``groups`` (one label per model, e.g. its grammar) is used only with
        ``size_prior=True``: the prior's weight is chosen by leave-one-group-out.

        Raises:
            PredictorError: bad parameters, unreadable models, fewer than 2 models, a
                length mismatch or non-finite scores.
        """
        self._validate()
        views = _views(models)
        y = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(views) != len(y):
            raise PredictorError(f"{len(views)} models but {len(y)} scores")
        if len(views) < 2:
            raise PredictorError("fit needs at least 2 models with scores")
        if groups is not None and len(groups) != len(views):
            raise PredictorError(f"{len(views)} models but {len(groups)} groups")
        # features are computed once: the size prior's inner fits take rows of these blocks
        blocks = self._feature_blocks(views)
        self._fit_model(y, blocks)
        self.size_prior_ = (self._fit_size_prior(views, y, groups, blocks)
                            if self.size_prior else None)
        self.n_train_ = len(y)
        self.metadata_ = {}
        return self

    def _fit_model(self, y: np.ndarray, blocks: tuple) -> None:
        """Columns, feature scaling and the regressor (everything but the size prior)."""
        text_block, graph_block = blocks
        if text_block is not None and self.encoder == "hashing":
            self.columns_ = _frequent_columns(text_block, self.min_df, self.max_columns)
        else:
            self.columns_ = None
        if graph_block is not None:
            self.graph_mean_ = graph_block.mean(axis=0)
            std = graph_block.std(axis=0)
            self.graph_scale_ = np.where(std > 0, std, 1.0)
        X = self._assemble(blocks)
        reg = make_regressor(self.regressor, ranking=self.ranking, margin=self.margin,
                             random_state=self.random_state, **(self.regressor_params or {}))
        self.regressor_ = reg.fit(X, y)
        self.n_features_in_ = X.shape[1]

    def _fit_size_prior(self, views: list[GraphView], y: np.ndarray, groups,
                        blocks: tuple) -> SizePrior:
        def rows(index: np.ndarray) -> tuple:
            return tuple(None if b is None else b[index] for b in blocks)

        def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
            inner = clone(self).set_params(size_prior=False)
            inner._fit_model(y[train], rows(train))
            return inner._raw_predict(rows(test))

        size = _log_size(views)
        weight = choose_weight(fit_predict, size, y, groups, self.random_state)
        return fit_prior(weight, self._raw_predict(blocks), size, y)

    def _raw_predict(self, blocks: tuple) -> np.ndarray:
        """The regressor's output, before any size prior."""
        return np.asarray(self.regressor_.predict(self._assemble(blocks)), dtype=np.float64)

    def predict(self, models) -> np.ndarray:
        """Predicted scores, one per model, as a float64 array.

        Raises:
            PredictorError: the predictor is not fitted, or a model cannot be read.
        """
        self._check_fitted()
        views = _views(models)
        if not views:
            return np.zeros(0)
        output = self._raw_predict(self._feature_blocks(views))
        if self.size_prior_ is None:
            return output
        return self.size_prior_.apply(output, _log_size(views))

    def score(self, models, scores) -> float:
        """Kendall tau between the predictions for ``models`` and the true ``scores``."""
        return kendall_tau(self.predict(models), scores)

    # ------------------------------------------------------------ features

    def _validate(self) -> None:
        ENCODERS.get(self.encoder)
        REGRESSORS.get(self.regressor)
        if self.features not in FEATURE_SETS:
            raise PredictorError(
                f"unknown features {self.features!r}; choose one of {', '.join(FEATURE_SETS)}"
            )

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError("this OnnxNetPredictor is not fitted, call fit first "
                                 "(or load a saved one with OnnxNetPredictor.load)")

    def _make_encoder(self):
        if self.encoder == "hashing":
            return make_encoder("hashing", n_features=self.n_features)
        return make_encoder(self.encoder)

    def texts(self, models) -> list[str]:
        """The texts this predictor's encoder reads for ``models`` (bounded by max_chars)."""
        views = _views(models)
        bound = self.max_chars or self._make_encoder().max_chars or DEFAULT_MAX_CHARS
        return [render(v, bound) for v in views]

    def _text_matrix(self, views: list[GraphView]):
        encoder = self._make_encoder()
        if isinstance(encoder, HashingEncoder):  # same matrix, without writing most texts
            bound = self.max_chars or DEFAULT_MAX_CHARS
            return encoder.transform_views(views, bound)
        return encoder.transform(self.texts(views))

    def _feature_blocks(self, views: list[GraphView]) -> tuple:
        """(text matrix, raw graph features) of ``views``; None for a block not used."""
        text = self._text_matrix(views) if "text" in self.features else None
        graph = (np.stack([graph_features(v) for v in views])
                 if "graph" in self.features else None)
        return text, graph

    def _assemble(self, blocks: tuple) -> np.ndarray:
        """The regressor's input: the fitted columns of the text, the scaled graph block."""
        text_block, graph_block = blocks
        parts = []
        if text_block is not None:
            m = text_block[:, self.columns_].toarray() if self.columns_ is not None \
                else text_block
            parts.append(np.asarray(m, dtype=np.float64))
        if graph_block is not None:
            parts.append((graph_block - self.graph_mean_) / self.graph_scale_)
        return np.hstack(parts)

    # ------------------------------------------------------------ save / load

    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        """Write the fitted predictor to ``path`` (one zip file, no pickle); returns the path.

        ``metadata`` (JSON-serializable) is stored and comes back as ``metadata_``.
        """
        self._check_fitted()
        reg_config, arrays = self.regressor_.state()
        arrays = {f"regressor/{k}": np.asarray(v) for k, v in arrays.items()}
        if self.columns_ is not None:
            arrays["columns"] = self.columns_
        if "graph" in self.features:
            arrays["graph_mean"], arrays["graph_scale"] = self.graph_mean_, self.graph_scale_
        config = {
            "format": self.file_format,
            "format_version": f"{self.file_format_version[0]}.{self.file_format_version[1]}",
            "platform_version": nas.__version__, "encoding_version": ENCODING_VERSION,
            "params": self.get_params(deep=False), "regressor": reg_config,
            "n_features_in": self.n_features_in_, "n_train": self.n_train_,
            "graph_feature_names": list(FEATURE_NAMES),
            "size_prior": self.size_prior_.to_config() if self.size_prior_ else None,
            "metadata": metadata if metadata is not None else self.metadata_,
        }
        return write_file(path, config, arrays)

    @classmethod
    def load(cls, path: str | Path) -> OnnxNetPredictor:
        """Read a predictor written by :meth:`save`.

        Raises:
            PredictorError: the file is missing, not a predictor, modified or corrupted
                (sha256 mismatch), of another major format version, or of another text
                encoding.
        """
        config, arrays = read_file(path, cls.file_format, cls.file_format_version)
        known = cls().get_params(deep=False)
        p = cls(**{k: v for k, v in config["params"].items() if k in known})
        p.columns_ = arrays.get("columns")
        if "graph_mean" in arrays:
            p.graph_mean_, p.graph_scale_ = arrays["graph_mean"], arrays["graph_scale"]
        reg_arrays = {k[len("regressor/"):]: v for k, v in arrays.items()
                      if k.startswith("regressor/")}
        p.regressor_ = regressor_from_state(config["regressor"], reg_arrays)
        p.n_features_in_, p.n_train_ = config["n_features_in"], config["n_train"]
        prior = config.get("size_prior")
        p.size_prior_ = SizePrior(**prior) if prior else None
        p.metadata_ = config.get("metadata") or {}
        return p


# ---------------------------------------------------------------- helpers


def _log_size(views: list[GraphView]) -> np.ndarray:
    """The size prior's measure: log(1 + params) + log(1 + MACs) per graph."""
    params = np.array([v.params for v in views], dtype=np.float64)
    compute = np.array([macs(v) for v in views], dtype=np.float64)
    return np.log1p(params) + np.log1p(compute)


def _views(models) -> list[GraphView]:
    """Load every model once; a single model (not in a list) is accepted too."""
    if isinstance(models, (str, Path, onnx.ModelProto, GraphView)):
        models = [models]
    views = []
    for i, m in enumerate(models):
        if isinstance(m, GraphView):
            views.append(m)
            continue
        try:
            views.append(load_graph(m))
        except PredictorError as exc:
            where = str(m) if isinstance(m, (str, Path)) else f"model #{i}"
            raise PredictorError(str(exc) if where in str(exc) else f"{where}: {exc}") from None
    return views


def _frequent_columns(matrix, min_df: int, max_columns: int) -> np.ndarray:
    """Hash buckets used by at least ``min_df`` rows, at most ``max_columns`` of them."""
    df = np.asarray((matrix != 0).sum(axis=0)).reshape(-1)
    threshold = min_df if (df >= min_df).any() else 1
    keep = np.flatnonzero(df >= threshold)
    if len(keep) > max_columns:
        order = np.lexsort((keep, -df[keep]))[:max_columns]
        keep = np.sort(keep[order])
    return keep.astype(np.int64)


def write_file(path: str | Path, config: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write a predictor-format zip (see the module docstring): ``config.json``, each
    array as ``arrays/<name>.npy`` (no pickle), and ``content.sha256``; the same content
    always gives the same bytes. Returns the path."""
    members = {"config.json": json.dumps(config, indent=2, sort_keys=True).encode()}
    for name, array in sorted(arrays.items()):
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        members[f"arrays/{name}.npy"] = buf.getvalue()
    members[_CHECKSUM] = _digest(members).encode()
    path = output_file(path, "predictor file", PredictorError, "model.predictor")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, _ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    tmp.replace(path)
    return path


def read_file(path: str | Path, file_format: str, version: tuple[int, int]
              ) -> tuple[dict, dict[str, np.ndarray]]:
    """The config and arrays of a file :func:`write_file` wrote, after the integrity,
    format and version checks (PredictorError)."""
    members = _read_members(Path(path))
    config = json.loads(members["config.json"])
    _check_versions(config, path, file_format, version)
    arrays = {name[len("arrays/"):-len(".npy")]: np.load(io.BytesIO(data), allow_pickle=False)
              for name, data in members.items() if name.startswith("arrays/")}
    return config, arrays


def _digest(members: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(members):
        if name == _CHECKSUM:
            continue
        data = members[name]
        h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def _read_members(path: Path) -> dict[str, bytes]:
    input_file(path, "predictor file", PredictorError)
    tampered = (f"predictor file {path} failed its integrity check (modified or corrupted); "
                "restore the original or retrain it with `nas predictor train`")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {name: zf.read(name) for name in zf.namelist()}
    except zipfile.BadZipFile as exc:
        if zipfile.is_zipfile(path):
            raise PredictorError(tampered) from None
        raise PredictorError(f"{path} is not a predictor file ({exc}); "
                             "write one with `nas predictor train`") from None
    except Exception:  # zlib or CRC errors inside a member
        raise PredictorError(tampered) from None
    if "config.json" not in members or _CHECKSUM not in members:
        raise PredictorError(f"{path} is not a predictor file (missing config.json or "
                             f"{_CHECKSUM}); write one with `nas predictor train`")
    if members[_CHECKSUM].decode(errors="replace").strip() != _digest(members):
        raise PredictorError(tampered)
    return members


def _check_versions(config: dict, path, file_format: str = FILE_FORMAT,
                    version_read: tuple[int, int] = FORMAT_VERSION) -> None:
    """Refuse another format, another major format version or another text encoding."""
    if config.get("format") != file_format:
        raise PredictorError(f"{path} is not a predictor file (format "
                             f"{config.get('format')!r}); write one with `nas predictor train`")
    version = format_version(config.get("format_version"))
    reads = f"{version_read[0]}.x"
    if version is None or version[0] != version_read[0]:
        newer = version is not None and version[0] > version_read[0]
        raise PredictorError(
            f"{path} has predictor format version {config.get('format_version')}, this "
            f"release reads {reads}: " + ("upgrade grammar-nas or retrain it" if newer
                                          else "retrain it") + " with `nas predictor train`")
    if config.get("encoding_version") != ENCODING_VERSION:
        raise PredictorError(
            f"{path} was written by grammar-nas {config.get('platform_version', '?')} with "
            f"text encoding {config.get('encoding_version')}; this is {nas.__version__} "
            f"(encoding {ENCODING_VERSION}): retrain it with `nas predictor train`")


def format_version(value) -> tuple[int, int] | None:
    """``"1.2"`` -> (1, 2); the first files wrote the major alone (``1`` -> (1, 0));
    None when it is neither."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, 0
    major, dot, minor = str(value).partition(".")
    if dot and major.isdigit() and minor.isdigit():
        return int(major), int(minor)
    return None
