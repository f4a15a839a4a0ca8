"""Gradient-boosted regression trees on feature histograms, in numpy.

The algorithm of scikit-learn's ``HistGradientBoostingRegressor`` for the squared error
(after LightGBM), step for step, so that it gives the same trees and predictions on
data without missing values:

* each feature is cut into at most 255 bins: midpoints between its distinct values, or
  quantiles (``averaged_inverted_cdf``) when it has more than 255 of them;
* the boosting starts from the mean score; each tree fits the float32 gradients
  ``prediction - score`` (the hessian is 1);
* a tree grows best-first up to ``max_leaf_nodes`` leaves: a node's split is the
  (feature, bin) of largest gain ``-G*v`` reduction with ``v = -G / (H + l2)``, leaves
  keep at least ``min_samples_leaf`` samples; the smaller child's histogram is summed,
  the larger one's is the parent's minus it;
* a leaf predicts ``learning_rate * v``.

It exists because scikit-learn keeps its fitted trees private: here they are our own
flat arrays (see :func:`fit_trees`), saved without pickle and read back without
scikit-learn. ``tests/predictors/test_boosting.py`` checks the predictions against
scikit-learn's own on the same data.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: bins per feature (one more, for missing values, is never used: inputs are finite)
MAX_BINS = 255
#: thresholds are clipped here (+inf is kept for splits on missing values)
_ALMOST_INF = 1e300
#: a node with less hessian than this is not split
_MIN_HESSIAN = 1e-3
#: features histogrammed per numpy call: bounds the temporary arrays to n x this
_FEATURE_BLOCK = 256
#: the flat-array fields of a fitted ensemble (children indexed over all trees)
TREE_FIELDS = ("feature_idx", "num_threshold", "missing_go_to_left", "left", "right",
               "is_leaf", "value")


@dataclass(frozen=True)
class BoostingParams:
    """The knobs of :func:`fit_trees` (scikit-learn's names and meanings)."""

    max_iter: int = 300
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 10
    l2_regularization: float = 1.0


def bin_thresholds(column: np.ndarray) -> np.ndarray:
    """Increasing cut points of one feature; value ``x`` falls in bin ``i`` when
    ``thresholds[i - 1] < x <= thresholds[i]``."""
    values = np.sort(column)
    distinct = np.unique(values)
    if len(distinct) == 1:
        return np.zeros(0)
    if len(distinct) <= MAX_BINS:
        cuts = sliding_window_view(distinct, 2).mean(axis=1)
    else:
        percentiles = np.linspace(0, 100, num=MAX_BINS + 1)[1:-1]
        cuts = np.unique(np.percentile(values, percentiles, method="averaged_inverted_cdf"))
    return np.minimum(cuts, _ALMOST_INF)


def fit_trees(X: np.ndarray, y: np.ndarray, params: BoostingParams
              ) -> tuple[float, dict[str, np.ndarray]]:
    """Boost ``params.max_iter`` trees on finite ``X`` (n, F) and ``y`` (n,).

    Returns:
        (baseline, trees): the starting prediction and the trees as flat arrays
        (:data:`TREE_FIELDS` plus ``root``, the first node of each tree; ``left`` and
        ``right`` index the arrays), in depth-first order. Predict with
        :func:`predict_trees`.
    """
    if not np.all(np.isfinite(X)):
        raise ValueError("features contain NaN or infinite values")
    thresholds = [bin_thresholds(X[:, j]) for j in range(X.shape[1])]
    binned = np.stack([np.searchsorted(t, X[:, j], side="left")
                       for j, t in enumerate(thresholds)]).astype(np.uint8)  # (F, n)
    grower = _Grower(binned, np.array([len(t) for t in thresholds]), params)
    baseline = float(np.average(y))
    raw = np.full(len(y), baseline)
    trees = []
    for _ in range(params.max_iter):
        gradients = (raw - y).astype(np.float32).astype(np.float64)
        root, leaves = grower.grow(gradients)
        for leaf in leaves:
            raw[leaf.samples] += leaf.value
        trees.append(_flatten(root, thresholds))
    return baseline, _concatenate(trees)


def predict_trees(trees: dict[str, np.ndarray], baseline: float, X: np.ndarray
                  ) -> np.ndarray:
    """The ensemble's predictions for ``X`` (n, F); a missing value follows the
    node's ``missing_go_to_left``."""
    out = np.full(len(X), baseline)
    rows = np.arange(len(X))
    for root in trees["root"]:
        node = np.full(len(X), root, dtype=np.int64)
        while True:
            inner = ~trees["is_leaf"][node].astype(bool)
            if not inner.any():
                break
            x = X[rows, trees["feature_idx"][node]]
            go_left = np.where(np.isnan(x), trees["missing_go_to_left"][node].astype(bool),
                               x <= trees["num_threshold"][node])
            nxt = np.where(go_left, trees["left"][node], trees["right"][node])
            node = np.where(inner, nxt, node)
        out += trees["value"][node]
    return out


# ---------------------------------------------------------------- growing one tree


@dataclass
class _Split:
    gain: float
    feature: int
    bin: int
    g_left: float
    h_left: float
    g_right: float
    h_right: float
    value_left: float
    value_right: float


class _Node:
    """A node while growing; ordered so that :mod:`heapq` pops the largest gain first
    (ties as scikit-learn breaks them: the same heap, the same pushes)."""

    def __init__(self, samples: np.ndarray, g: float, h: float, value: float) -> None:
        self.samples, self.g, self.h, self.value = samples, g, h, value
        self.split: _Split | None = None
        self.hist: tuple[np.ndarray, np.ndarray] | None = None
        self.left: _Node | None = None
        self.right: _Node | None = None
        self.is_leaf = False

    def __lt__(self, other: _Node) -> bool:
        return self.split.gain > other.split.gain


class _Group:
    """Features scanned together: those whose bins fit in ``width`` columns (a power
    of 2), so that a histogram holds no columns that no feature uses."""

    def __init__(self, features: np.ndarray, width: int, n_thresholds: np.ndarray) -> None:
        self.features, self.width = features, width
        self.allowed = np.arange(width) < n_thresholds[:, None]  # a left child's last bin
        self.offsets = (np.arange(_FEATURE_BLOCK) * width)[:, None]


class _Grower:
    """Grows one tree per call on fixed binned data (see the module docstring)."""

    def __init__(self, binned: np.ndarray, n_thresholds: np.ndarray,
                 params: BoostingParams) -> None:
        self.binned, self.params = binned, params
        self.n_features = len(binned)
        self.min_leaf = params.min_samples_leaf
        # a feature uses bins 0 .. n_thresholds; one without thresholds cannot split
        width = 2 ** np.ceil(np.log2(n_thresholds + 1)).astype(int)
        self.groups = [_Group(f, int(w), n_thresholds[f]) for w in np.unique(width)
                       if len(f := np.flatnonzero((width == w) & (n_thresholds > 0)))]

    def grow(self, gradients: np.ndarray) -> tuple[_Node, list[_Node]]:
        """(root, leaves) of a tree fitted to ``gradients``; leaf values are shrunk."""
        self.gradients, self.leaves, self.heap = gradients, [], []
        samples = np.arange(self.binned.shape[1])
        # the root's gradient sum as scikit-learn takes it: the 256 bins of feature 0
        total = float(np.bincount(self.binned[0], weights=gradients, minlength=256).sum())
        root = _Node(samples, total, float(len(samples)), 0.0)
        if len(samples) < 2 * self.min_leaf or root.h < _MIN_HESSIAN:
            self._leaf(root)
        else:
            root.hist = self._histograms(samples)
            self._split_or_leaf(root)
        while self.heap:
            self._split_next()
        for leaf in self.leaves:
            leaf.value *= self.params.learning_rate
        return root, self.leaves

    def _leaf(self, node: _Node) -> None:
        node.is_leaf = True
        node.hist = None
        self.leaves.append(node)

    def _split_or_leaf(self, node: _Node) -> None:
        node.split = self._best_split(node)
        if node.split.gain <= 0:
            self._leaf(node)
        else:
            heapq.heappush(self.heap, node)

    def _split_next(self) -> None:
        node = heapq.heappop(self.heap)
        s = node.split
        goes_left = self.binned[s.feature, node.samples] <= s.bin
        left = _Node(node.samples[goes_left], s.g_left, s.h_left, s.value_left)
        right = _Node(node.samples[~goes_left], s.g_right, s.h_right, s.value_right)
        node.left, node.right = left, right
        if len(self.leaves) + len(self.heap) + 2 == self.params.max_leaf_nodes:
            for child in (left, right):
                self._leaf(child)
            while self.heap:
                self._leaf(self.heap.pop())
            return
        for child in (left, right):
            if len(child.samples) < 2 * self.min_leaf:
                self._leaf(child)
        if not (left.is_leaf and right.is_leaf):
            small, large = (left, right) if len(left.samples) < len(right.samples) \
                else (right, left)
            small.hist = self._histograms(small.samples)
            large.hist = [(sums - small_sums, counts - small_counts) for (sums, counts), (
                small_sums, small_counts) in zip(node.hist, small.hist, strict=True)]
            for child in (left, right):
                if child.is_leaf:
                    child.hist = None
                else:
                    self._split_or_leaf(child)
        node.hist = None

    def _histograms(self, samples: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per group, (gradient sums, counts) of ``samples`` by feature and bin; each
        bin adds its samples' gradients in sample order."""
        weights = self.gradients[samples]
        out = []
        for group in self.groups:
            n, w = len(group.features), group.width
            sums, counts = np.empty((n, w)), np.empty((n, w), dtype=np.int64)
            for start in range(0, n, _FEATURE_BLOCK):
                rows = group.features[start:start + _FEATURE_BLOCK]
                block = self.binned[rows[:, None], samples].astype(np.intp)
                flat = (block + group.offsets[:len(rows)]).ravel()
                size = len(rows) * w
                sums[start:start + len(rows)] = np.bincount(
                    flat, weights=np.tile(weights, len(rows)), minlength=size).reshape(-1, w)
                counts[start:start + len(rows)] = np.bincount(
                    flat, minlength=size).reshape(-1, w)
            out.append((sums, counts))
        return out

    def _best_split(self, node: _Node) -> _Split:
        """The first feature, and in it the first bin, of largest positive gain
        (gain -1 when no split keeps ``min_samples_leaf`` on both sides)."""
        best_gain = np.full(self.n_features, -1.0)
        best_bin = np.zeros(self.n_features, dtype=np.int64)
        where = np.zeros((self.n_features, 2), dtype=np.int64)  # (group, row) of a feature
        scans = []
        for k, (group, hist) in enumerate(zip(self.groups, node.hist, strict=True)):
            scan = self._scan(node, group, hist)
            rows = np.arange(len(group.features))
            bins = scan[0].argmax(axis=1)
            best_gain[group.features] = scan[0][rows, bins]
            best_bin[group.features] = bins
            where[group.features] = np.stack([np.full(len(rows), k), rows], axis=1)
            scans.append(scan)
        feature = int(best_gain.argmax())
        if best_gain[feature] <= 0:
            return _Split(-1.0, feature, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        k, row = where[feature]
        gain, g_left, h_left, value_left, value_right = (a[row] for a in scans[k])
        b = int(best_bin[feature])
        return _Split(float(gain[b]), feature, b, float(g_left[b]), float(h_left[b]),
                      float(node.g - g_left[b]), float(node.h - h_left[b]),
                      float(value_left[b]), float(value_right[b]))

    def _scan(self, node: _Node, group: _Group, hist) -> tuple[np.ndarray, ...]:
        """Gains of splitting after each bin of a group's features (-1 where not
        allowed), with the left sums and both values: scikit-learn's left-to-right
        scan, in the same floating-point operations."""
        sums, counts = hist
        l2, n = self.params.l2_regularization, len(node.samples)
        g_left = np.cumsum(sums, axis=1)
        n_left = np.cumsum(counts, axis=1)
        h_left = n_left.astype(np.float64)
        g_right, h_right = node.g - g_left, node.h - h_left
        value_left = -g_left / (h_left + l2 + 1e-15)
        value_right = -g_right / (h_right + l2 + 1e-15)
        gain = node.value * node.g - g_left * value_left - g_right * value_right
        usable = (group.allowed & (n_left >= self.min_leaf) & (n - n_left >= self.min_leaf)
                  & (h_left >= _MIN_HESSIAN) & (h_right >= _MIN_HESSIAN) & (gain > 0))
        return np.where(usable, gain, -1.0), g_left, h_left, value_left, value_right


def _flatten(root: _Node, thresholds: list[np.ndarray]) -> dict[str, list]:
    """One tree as field lists, depth-first (a node, its left subtree, its right one)."""
    out: dict[str, list] = {f: [] for f in TREE_FIELDS}

    def visit(node: _Node) -> int:
        index = len(out["value"])
        for f in TREE_FIELDS:
            out[f].append(0)
        out["value"][index] = node.value
        if node.is_leaf:
            out["is_leaf"][index] = 1
            return index
        s = node.split
        out["feature_idx"][index] = s.feature
        out["num_threshold"][index] = float(thresholds[s.feature][s.bin])
        # no missing values at fit time: they follow the larger child
        out["missing_go_to_left"][index] = int(len(node.left.samples) >
                                               len(node.right.samples))
        out["left"][index] = visit(node.left)
        out["right"][index] = visit(node.right)
        return index

    visit(root)
    return out


def _concatenate(trees: list[dict[str, list]]) -> dict[str, np.ndarray]:
    dtypes = {"feature_idx": np.intp, "num_threshold": np.float64,
              "missing_go_to_left": np.uint8, "left": np.int64, "right": np.int64,
              "is_leaf": np.uint8, "value": np.float64}
    parts: dict[str, list[np.ndarray]] = {f: [] for f in TREE_FIELDS}
    roots, offset = [], 0
    for tree in trees:
        roots.append(offset)
        for f in TREE_FIELDS:
            values = np.asarray(tree[f], dtype=dtypes[f])
            parts[f].append(values + offset if f in ("left", "right") else values)
        offset += len(tree["value"])
    flat = {f: np.concatenate(parts[f]) for f in TREE_FIELDS}
    flat["root"] = np.asarray(roots, dtype=np.int64)
    return flat
