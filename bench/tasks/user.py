"""A user's own data as a task: a CSV file with a target column, or an NPZ file.

CSV: one row per example, a header row, a ``target`` column. Every other column is a
feature (minus ``drop``): numeric columns as they are, text/boolean columns one-hot
encoded (at most :data:`MAX_CATEGORIES` distinct values each). Task type ``auto``:
classification when the target is text/boolean, or integer with at most
:data:`MAX_AUTO_CLASSES` distinct values; otherwise regression.

NPZ: arrays ``x`` (n, *input_shape), with input_shape ``(D,)``, ``(S, D)`` or
``(C, H, W)``, and ``y`` (n,) or (n, k). ``auto``: integer or boolean ``y`` means
classification, float ``y`` regression.

Both: the seeded split holds out ``val_fraction`` and ``test_fraction`` of the rows
(stratified for classification); inputs are standardised with train statistics;
regression targets too, with RMSE reported in the target's units. Anything unusable
raises :class:`~nas.errors.TaskError` with one line saying what and where.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from bench.tasks.base import Task
from bench.tasks.catalog import TEST_FRACTION, VAL_FRACTION, split_sizes
from bench.tasks.prepare import make_classification_task, make_regression_task
from nas.errors import TaskError, first_line
from nas.paths import input_file, read_text

MIN_ROWS = 20
MAX_AUTO_CLASSES = 20
MAX_CATEGORIES = 50
TASK_TYPES = ("auto", "classification", "regression")


def csv_task(path: str | Path, seed: int = 0, target: str | None = None,
             task_type: str = "auto", drop: tuple[str, ...] | list[str] = (),
             val_fraction: float = VAL_FRACTION, test_fraction: float = TEST_FRACTION) -> Task:
    """A task from a CSV file; ``target`` names the column to predict.

    Raises:
        TaskError: missing file or target, unreadable CSV, unknown column, missing or
            infinite values, too few rows, a single class, an unusable text column.
    """
    # pandas: only user CSV tasks read with it
    import pandas as pd

    path = _existing(path)
    _check_task_type(task_type)
    text = read_text(path, "data file", TaskError)
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise TaskError(f"cannot read CSV {path}: {str(exc).strip().splitlines()[0]}") from None
    columns = ", ".join(map(str, frame.columns))
    if target is None:
        raise TaskError(f"{path.name}: say which column to predict with --target "
                        f"(columns: {columns})")
    for name in (target, *drop):
        if name not in frame.columns:
            raise TaskError(f"column {name!r} is not in {path.name}; columns: {columns}")
    frame = frame.drop(columns=list(drop))
    _check_rows(len(frame), path.name)
    _check_missing(frame, path.name)
    y_col, x_frame = frame[target], frame.drop(columns=[target])
    if x_frame.shape[1] == 0:
        raise TaskError(f"{path.name} has no feature columns besides target {target!r}")
    x = _encode_features(x_frame, path.name)
    kind = _csv_kind(y_col, task_type, path.name)
    return _assemble(path, x, y_col.to_numpy(), kind, seed, val_fraction, test_fraction,
                     f"target {target!r}")


def npz_task(path: str | Path, seed: int = 0, task_type: str = "auto",
             val_fraction: float = VAL_FRACTION, test_fraction: float = TEST_FRACTION) -> Task:
    """A task from an NPZ file with arrays ``x`` and ``y``.

    Raises:
        TaskError: missing file or arrays, bad shapes or dtypes, NaN/inf values, too few
            rows, a single class.
    """
    path = _existing(path)
    _check_task_type(task_type)
    _check_npz_magic(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise TaskError(f"{path.name} holds object arrays (pickled Python objects), which "
                            "are never loaded; save numeric arrays with np.savez") from None
        raise TaskError(f"cannot read NPZ {path}: {first_line(exc)}") from None
    except Exception as exc:  # zipfile, zlib and numpy raise many types on a damaged archive
        raise TaskError(f"cannot read NPZ {path} ({type(exc).__name__}: {first_line(exc)}); "
                        "is the file complete? Save it with np.savez(path, x=..., y=...)"
                        ) from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise TaskError(f"{path.name} lacks array(s) {', '.join(missing)}; it has "
                        f"{', '.join(arrays) or 'none'} (save with np.savez(path, x=..., y=...))")
    x, y = arrays["x"], arrays["y"]
    _check_npz_shapes(x, y, path.name)
    _check_rows(len(x), path.name)
    for name, arr in (("x", x), ("y", y)):
        _check_finite_array(arr, name, path.name)
    kind = _npz_kind(y, task_type, path.name)
    return _assemble(path, x.astype(np.float64), y, kind, seed, val_fraction, test_fraction,
                     "array y")


def _assemble(path: Path, x: np.ndarray, y: np.ndarray, kind: str, seed: int,
              val_fraction: float, test_fraction: float, target_desc: str) -> Task:
    """Split, standardise and wrap user arrays as a classification or regression task."""
    sizes = split_sizes(len(x), val_fraction, test_fraction)
    shape = "x".join(map(str, x.shape[1:]))
    if kind == "regression":
        desc = f"user data {path.name}: {len(x)} rows, input {shape}, {target_desc} (regression)"
        return make_regression_task(path.name, desc, x, y.astype(np.float64), seed, sizes)
    classes, labels = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise TaskError(f"{path.name}: {target_desc} has a single class ({classes[0]!r}); "
                        "a classifier needs at least two")
    desc = (f"user data {path.name}: {len(x)} rows, input {shape}, {target_desc} "
            f"({len(classes)} classes)")
    return make_classification_task(path.name, desc, x, labels.reshape(-1), seed, sizes)


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise TaskError(f"data file {path} not found; give the path of a .csv or .npz file "
                        "or a built-in task name (see `nas tasks`)")
    return input_file(path, "data file", TaskError)


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an .npz is a zip archive (maybe empty)


def _check_npz_magic(path: Path) -> None:
    """TaskError unless ``path`` starts like an .npz (zip) archive: numpy would otherwise
    try to read it as a pickle and say so, which misleads."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise TaskError(f"cannot read data file {path}: {exc.strerror}") from None
    if head.startswith(_ZIP_MAGIC):
        return
    kind = "a single .npy array" if head.startswith(b"\x93NUMPY") else "not an .npz archive"
    raise TaskError(f"data file {path} is {kind}; save the arrays with "
                    "np.savez(path, x=..., y=...)")


def _check_task_type(task_type: str) -> None:
    if task_type not in TASK_TYPES:
        raise TaskError(f"task_type {task_type!r} is not one of {', '.join(TASK_TYPES)}")


def _check_rows(n: int, name: str) -> None:
    if n < MIN_ROWS:
        raise TaskError(f"{name} has {n} rows; at least {MIN_ROWS} are needed to hold out "
                        "validation and test rows")


def _check_missing(frame, name: str) -> None:
    """TaskError naming the first column with empty/NaN or infinite values."""
    for col in frame.columns:
        values = frame[col]
        bad = values.isna().to_numpy()
        what = "missing (empty or NaN)"
        if not bad.any() and values.dtype.kind == "f":
            bad, what = np.isinf(values.to_numpy()), "infinite"
        if bad.any():
            first = int(np.flatnonzero(bad)[0]) + 2  # +1 header line, +1 one-based
            raise TaskError(f"{name}: column {col!r} has {int(bad.sum())} {what} value(s), "
                            f"first on line {first}; fill them in or drop those rows")


def _encode_features(frame, name: str) -> np.ndarray:
    """Numeric columns as floats, text/boolean columns one-hot; (n, D) float64."""
    # pandas: only user CSV tasks read with it
    import pandas as pd

    parts = []
    for col in frame.columns:
        values = frame[col]
        if values.dtype.kind in "iuf":
            parts.append(values.to_numpy(dtype=np.float64)[:, None])
            continue
        levels = values.astype(str)
        if levels.nunique() > MAX_CATEGORIES:
            raise TaskError(f"{name}: feature column {col!r} is text with {levels.nunique()} "
                            f"distinct values (more than {MAX_CATEGORIES}); drop it with "
                            "drop=[...] (--drop) or encode it as numbers")
        parts.append(pd.get_dummies(levels).to_numpy(dtype=np.float64))
    return np.concatenate(parts, axis=1)


def _csv_kind(y, task_type: str, name: str) -> str:
    """Classification or regression for a CSV target column (see the module docstring)."""
    numeric = y.dtype.kind in "iuf"
    if task_type == "regression" and not numeric:
        raise TaskError(f"{name}: target {y.name!r} is not numeric, so it cannot be a "
                        "regression target; use task_type classification")
    if task_type != "auto":
        return task_type
    if not numeric or (y.dtype.kind in "iu" and y.nunique() <= MAX_AUTO_CLASSES):
        return "classification"
    return "regression"


def _npz_kind(y: np.ndarray, task_type: str, name: str) -> str:
    if task_type == "auto":
        return "classification" if y.dtype.kind in "iub" else "regression"
    if task_type == "classification" and y.ndim != 1:
        raise TaskError(f"{name}: classification needs y of shape (n,), got {y.shape}")
    return task_type


def _check_npz_shapes(x: np.ndarray, y: np.ndarray, name: str) -> None:
    if x.dtype.kind not in "iubf" or y.dtype.kind not in "iubf":
        raise TaskError(f"{name}: x and y must be numeric arrays, got {x.dtype} and {y.dtype}")
    if not 2 <= x.ndim <= 4:
        raise TaskError(f"{name}: x must be (n, D), (n, S, D) or (n, C, H, W), got {x.shape}")
    if y.ndim not in (1, 2) or len(y) != len(x):
        raise TaskError(f"{name}: y must be (n,) or (n, k) with n = {len(x)} rows of x, "
                        f"got {y.shape}")


def _check_finite_array(arr: np.ndarray, key: str, name: str) -> None:
    if arr.dtype.kind != "f":
        return
    bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
    if bad.any():
        raise TaskError(f"{name}: array {key} has NaN/inf values in {int(bad.sum())} row(s), "
                        f"first at row {int(np.flatnonzero(bad)[0])}; clean them first")
