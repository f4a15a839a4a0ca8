"""Pointer tasks against direct computations: brute-force TSP, scipy hulls, argsort."""

import itertools

import numpy as np
import pytest
import torch

from bench.tasks import get_task
from bench.tasks.permutation import hidden_permutation
from bench.tasks.pointer import convex_hull, decode_permutation, hull_target
from bench.tasks.tsp import optimal_tours, tour_lengths

torch.set_num_threads(1)


def brute_force_length(points: np.ndarray) -> float:
    n = len(points)
    best = np.inf
    for rest in itertools.permutations(range(1, n)):
        tour = np.array([[0, *rest]])
        best = min(best, float(tour_lengths(points[None], tour)[0]))
    return best


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
def test_held_karp_matches_brute_force(n):
    points = np.random.default_rng(n).uniform(size=(12, n, 2))
    tours, lengths = optimal_tours(points)
    for i in range(len(points)):
        assert lengths[i] == pytest.approx(brute_force_length(points[i]), abs=1e-12)
    # the tours themselves have the optimal length and are valid permutations
    assert np.allclose(tour_lengths(points, tours), lengths)
    assert (np.sort(tours, axis=1) == np.arange(n)).all()


def test_tours_are_canonical():
    points = np.random.default_rng(0).uniform(size=(200, 8, 2))
    tours, _ = optimal_tours(points)
    assert (tours[:, 0] == 0).all()
    assert (tours[:, 1] < tours[:, -1]).all()


def test_tsp_task_targets_and_tour_ratio():
    task = get_task("tsp-6", n_train=100, n_val=50, n_test=50)
    split = task.val
    points = split.extra["points"].double().numpy()
    assert np.allclose(tour_lengths(points, split.y.numpy()),
                       split.extra["optimal_length"].numpy())
    perfect = torch.nn.functional.one_hot(split.y, 6).float()  # (B, N, N) step scores
    assert task.score(perfect, split) == pytest.approx(1.0)
    assert task.higher_is_better is False and task.metric == "tour_ratio"


def test_invalid_tours_are_repaired_not_rewarded():
    task = get_task("tsp-6", n_train=100, n_val=50, n_test=50)
    split = task.val
    always_city_0 = torch.zeros(len(split), 6, 6)
    always_city_0[:, :, 0] = 1.0  # raw argmax repeats city 0 at every step
    tours = decode_permutation(always_city_0)
    assert (tours.sort(dim=1).values == torch.arange(6)).all()
    ratio = task.score(always_city_0, split)
    assert ratio > 1.0  # a valid but (almost surely) poor tour


def test_decode_permutation_is_masked_greedy():
    scores = torch.tensor([[[0.9, 0.1, 0.0], [0.8, 0.7, 0.1], [0.9, 0.8, 0.7]]])
    assert decode_permutation(scores).tolist() == [[0, 1, 2]]


def test_convex_hull_matches_scipy():
    spatial = pytest.importorskip("scipy.spatial")
    rng = np.random.default_rng(1)
    for n in (3, 5, 10, 30):
        for _ in range(20):
            points = rng.uniform(size=(n, 2))
            ours = convex_hull(points)
            ref = list(spatial.ConvexHull(points).vertices)  # counter-clockwise in 2-D
            start = ref.index(ours[0])
            assert ours == ref[start:] + ref[:start]


def test_hull_target_is_ccw_from_lowest_index_then_padded():
    points = np.array([[0.5, 0.5], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0],
                       [0.4, 0.6]])
    # hull CCW: 4 (0,0) -> 1 (1,0) -> 2 (1,1) -> 3 (0,1); start at the lowest index, 1
    assert hull_target(points).tolist() == [1, 2, 3, 4, 1, 1]


def test_convex_hull_task_targets():
    task = get_task("convex-hull-8", n_train=200, n_val=20, n_test=20)
    points = task.train.extra["points"].numpy()
    for i in range(20):
        assert task.train.y[i].tolist() == hull_target(points[i]).tolist()
    assert task.score(torch.nn.functional.one_hot(task.test.y, 8).float(), task.test) == 1.0


def test_sort_task_targets_are_the_ascending_order():
    task = get_task("sort-7", n_train=300, n_val=10, n_test=10)
    values = task.train.extra["points"][:, :, 0]
    ordered = torch.gather(values, 1, task.train.y)
    assert (ordered[:, 1:] > ordered[:, :-1]).all()
    # standardised inputs keep the order of the raw values
    assert torch.equal(task.train.x[:, :, 0].argsort(dim=1), task.train.y)
    wrong = torch.nn.functional.one_hot(task.val.y.flip(1), 7).float()
    assert task.score(wrong, task.val) == 0.0


def test_permutation_task_applies_one_fixed_permutation():
    task = get_task("permutation-10")
    perm = hidden_permutation(10)
    assert sorted(perm.tolist()) == list(range(10))
    bits = (task.train.x > 0).float()  # standardised bits keep their sign
    assert torch.equal(task.train.y, bits[:, perm])
    assert torch.equal(torch.as_tensor(hidden_permutation(10)), torch.as_tensor(perm))
    logits = task.test.y * 2 - 1
    assert task.score(logits, task.test) == 1.0
    assert task.score(-logits, task.test) == 0.0
    loss = task.loss(logits * 10, task.test.y)
    assert float(loss) < 1e-3
