"""Fuzz: a user's own data files, CSV and NPZ (issue 14).

Generated tables and arrays (odd dtypes, NaN/inf, empty cells, too few rows, one class,
wrong shapes, missing keys), then byte-level edits (bad UTF-8, quotes, truncation).
Each case gives a Task whose splits hold every row, or one TaskError line.
"""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest
from fuzzing import fuzz_settings, mutated
from hostile_cli import assert_clean_message
from hypothesis import event, given
from hypothesis import strategies as st

from bench.tasks.user import csv_task, npz_task
from nas.errors import TaskError

pytestmark = pytest.mark.slow

CELLS = {
    "int": st.integers(-5, 5).map(str),
    "float": st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    "text": st.sampled_from(["a", "b", "c", "é", "a,b", 'q"uote', " ", "TRUE", "no"]),
    "bool": st.sampled_from(["True", "False"]),
    "sparse": st.sampled_from(["", "1", "2", "nan", "NA"]),
}


@st.composite
def csv_tables(draw) -> tuple[bytes, str]:
    kinds = draw(st.lists(st.sampled_from(sorted(CELLS)), min_size=2, max_size=4))
    names = [f"c{i}" for i in range(len(kinds))]
    rows = draw(st.one_of(st.integers(20, 45), st.integers(0, 45)))
    table = [[draw(CELLS[k]) for k in kinds] for _ in range(rows)]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(names)
    writer.writerows(table)
    target = draw(st.sampled_from([*names, *names, "missing"]))
    edits = draw(st.sampled_from([0, 0, 1, 2]))
    return draw(mutated(buf.getvalue().encode("utf-8"), max_edits=edits)), target


@fuzz_settings(120)
@given(table=csv_tables(), task_type=st.sampled_from(["auto", "classification",
                                                      "regression"]))
def test_fuzz_csv_data(tmp_path_factory, table, task_type):
    data, target = table
    path = tmp_path_factory.mktemp("csv") / "data.csv"
    path.write_bytes(data)
    try:
        task = csv_task(path, target=target, task_type=task_type)
    except TaskError as exc:
        assert_clean_message(exc)
        event("clean error")
        return
    assert task.name == "data.csv" and task.description
    event("valid task")


DTYPES = ["float32", "float64", "int64", "bool", "complex64", "U3", "object"]
#: mostly plausible inputs, so that many cases get past the first check
LIKELY_DTYPES = ["float32", "float64", "float64", "int64", *DTYPES]


@st.composite
def npz_archives(draw) -> bytes:
    rows = draw(st.one_of(st.integers(20, 45), st.integers(0, 45)))
    shape = draw(st.sampled_from([(rows, 3), (rows, 4, 2), (rows, 1, 3, 3), (rows,),
                                  (rows, 2, 2, 2, 2)]))
    arrays = {}
    for key, shape_of in (("x", shape), ("y", draw(st.sampled_from(
            [(rows,), (rows,), (rows, 2), (rows + 1,), (rows, 1, 1)])))):
        dtype = draw(st.sampled_from(LIKELY_DTYPES))
        values = draw(st.sampled_from(["random", "random", "twoclass", "twoclass", "nan",
                                       "inf", "const"]))
        arrays[draw(st.sampled_from([key, key, key, key.upper()]))] = _array(
            shape_of, dtype, values, draw(st.integers(0, 9)))
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # object arrays are pickled: loading them must be refused
    return draw(mutated(buf.getvalue(), max_edits=draw(st.sampled_from([0, 0, 0, 1, 3]))))


def _array(shape, dtype, values, seed):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=shape)
    if values == "nan":
        base.flat[0:1] = np.nan
    elif values == "inf":
        base.flat[0:1] = np.inf
    elif values == "const":
        base[...] = 1.0
    elif values == "twoclass":
        base = (base > 0).astype(float)
    if dtype == "U3":
        return base.round(1).astype(str).astype("U3")
    if dtype == "object":
        return base.astype(object)
    with np.errstate(invalid="ignore"):
        return base.astype(dtype)


@fuzz_settings(250)
@given(data=npz_archives(), task_type=st.sampled_from(["auto", "classification",
                                                       "regression"]))
def test_fuzz_npz_data(tmp_path_factory, data, task_type):
    path = tmp_path_factory.mktemp("npz") / "data.npz"
    path.write_bytes(data)
    try:
        task = npz_task(path, task_type=task_type)
    except TaskError as exc:
        assert_clean_message(exc)
        event("clean error")
        return
    assert zipfile.is_zipfile(path) and task.description
    event("valid task")
