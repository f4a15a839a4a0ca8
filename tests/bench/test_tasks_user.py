"""User data: CSV and NPZ loaders and every bad-input case (one clear line each)."""

import numpy as np
import pandas as pd
import pytest
import torch

from bench.tasks import get_task
from nas.errors import TaskError

torch.set_num_threads(1)


def write_csv(path, n=60, seed=0, **columns):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.uniform(size=n),
                          "label": rng.choice(["cat", "dog", "eel"], size=n)})
    for name, values in columns.items():
        frame[name] = values
    frame.to_csv(path, index=False)
    return path


def one_line_error(name, **options):
    with pytest.raises(TaskError) as err:
        get_task(str(name), **options)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_csv_text_target_is_classification(tmp_path):
    path = write_csv(tmp_path / "pets.csv")
    task = get_task(str(path), target="label")
    assert task.kind == "classification" and task.n_outputs == 3
    assert task.input_shape == (2,) and task.name == "pets.csv"
    assert len(task.train) + len(task.val) + len(task.test) == 60
    assert task.train.x.dtype == torch.float32 and task.train.y.dtype == torch.int64
    assert abs(float(task.train.x.mean())) < 1e-5


def test_csv_float_target_is_regression_in_its_units(tmp_path):
    n = 80
    rng = np.random.default_rng(0)
    a = rng.normal(size=n)
    path = tmp_path / "reg.csv"
    pd.DataFrame({"a": a, "price": 1000 + 250 * a}).to_csv(path, index=False)
    task = get_task(str(path), target="price")
    assert task.kind == "regression" and task.metric == "rmse" and task.n_outputs == 1
    zeros = torch.zeros_like(task.test.y)  # predicts the train mean
    assert task.score(zeros, task.test) == pytest.approx(250, rel=0.35)


def test_csv_integer_target_with_few_values_is_classification(tmp_path):
    path = write_csv(tmp_path / "ints.csv", grade=np.arange(60) % 4)
    task = get_task(str(path), target="grade", drop=["label"])
    assert task.kind == "classification" and task.n_outputs == 4
    many = write_csv(tmp_path / "many.csv", count=np.arange(60))
    assert get_task(str(many), target="count", drop=["label"]).kind == "regression"
    forced = get_task(str(many), target="count", drop=["label"], task_type="classification")
    assert forced.kind == "classification"


def test_csv_text_features_are_one_hot(tmp_path):
    path = write_csv(tmp_path / "text.csv", colour=["red", "green"] * 30)
    task = get_task(str(path), target="label")
    assert task.input_shape == (4,)  # a, b, colour=green, colour=red


def test_csv_split_is_fixed_by_seed(tmp_path):
    path = write_csv(tmp_path / "pets.csv")
    a = get_task(str(path), seed=1, target="label")
    b = get_task(str(path), seed=2, target="label")
    assert not torch.equal(a.test.x, b.test.x)
    assert torch.equal(a.test.x, get_task(str(path), seed=1, target="label").test.x)


def test_npz_classification_regression_and_images(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "img.npz"
    np.savez(path, x=rng.normal(size=(50, 3, 4, 4)), y=rng.integers(0, 5, size=50))
    task = get_task(str(path))
    assert task.kind == "classification" and task.input_shape == (3, 4, 4)
    assert task.n_outputs == 5
    path = tmp_path / "seq.npz"
    np.savez(path, x=rng.normal(size=(40, 6, 2)), y=rng.normal(size=(40, 3)))
    task = get_task(str(path))
    assert task.kind == "regression" and task.input_shape == (6, 2) and task.n_outputs == 3
    assert task.train.y.shape == (len(task.train), 3)


def test_unknown_task_and_missing_file(tmp_path):
    message = one_line_error("no-such-task")
    assert "known:" in message and "digits" in message and ".csv" in message
    message = one_line_error(tmp_path / "missing.csv", target="y")
    assert "not found" in message and "missing.csv" in message


def test_csv_without_target_or_with_a_wrong_one_lists_columns(tmp_path):
    path = write_csv(tmp_path / "pets.csv")
    message = one_line_error(path)
    assert "--target" in message and "a, b, label" in message
    message = one_line_error(path, target="species")
    assert "'species'" in message and "a, b, label" in message
    message = one_line_error(path, target="label", drop=["zzz"])
    assert "'zzz'" in message


def test_csv_nan_and_inf_name_the_column_and_rows(tmp_path):
    values = np.ones(60)
    values[[4, 9, 30]] = np.nan
    message = one_line_error(write_csv(tmp_path / "nan.csv", c=values), target="label")
    assert "'c'" in message and "3 missing" in message and "line 6" in message
    values = np.ones(60)
    values[7] = np.inf
    message = one_line_error(write_csv(tmp_path / "inf.csv", c=values), target="label")
    assert "'c'" in message and "1 infinite" in message and "line 9" in message


def test_csv_too_few_rows_single_class_and_bad_type(tmp_path):
    message = one_line_error(write_csv(tmp_path / "tiny.csv", n=8), target="label")
    assert "8 rows" in message
    path = write_csv(tmp_path / "one.csv", only=["x"] * 60)
    message = one_line_error(path, target="only", drop=["label"])
    assert "single class" in message
    message = one_line_error(write_csv(tmp_path / "p.csv"), target="label",
                             task_type="regression")
    assert "not numeric" in message
    message = one_line_error(write_csv(tmp_path / "q.csv"), target="label", task_type="fancy")
    assert "fancy" in message


def test_csv_unusable_text_column_and_unreadable_file(tmp_path):
    path = write_csv(tmp_path / "ids.csv", name=[f"id{i}" for i in range(60)])
    message = one_line_error(path, target="label", task_type="classification")
    # 60 distinct values > 50
    assert "'name'" in message and "drop" in message
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    assert "cannot read CSV" in one_line_error(bad, target="x")


def test_npz_bad_inputs(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "nokeys.npz"
    np.savez(path, features=rng.normal(size=(30, 2)))
    message = one_line_error(path)
    assert "x, y" in message and "features" in message
    path = tmp_path / "nan.npz"
    x = rng.normal(size=(30, 2))
    x[[3, 5], 1] = np.nan
    np.savez(path, x=x, y=rng.integers(0, 2, 30))
    message = one_line_error(path)
    assert "2 row(s)" in message and "row 3" in message
    path = tmp_path / "short.npz"
    np.savez(path, x=rng.normal(size=(30, 2)), y=rng.integers(0, 2, 29))
    assert "n = 30" in one_line_error(path)
    path = tmp_path / "few.npz"
    np.savez(path, x=rng.normal(size=(5, 2)), y=rng.integers(0, 2, 5))
    assert "5 rows" in one_line_error(path)
    path = tmp_path / "flat.npz"
    np.savez(path, x=rng.normal(size=30), y=rng.integers(0, 2, 30))
    assert "(n, D)" in one_line_error(path)


def test_unknown_file_format(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("1,2\n")
    assert "format" in one_line_error(path)
