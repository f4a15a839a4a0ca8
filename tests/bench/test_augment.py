"""Minibatch augmentation: exact shifts, seeded, only where a task vouches for it."""

import optuna
import pytest
import torch
from torch import nn

from bench.augment import augmenter, random_shift
from bench.tasks import get_task
from bench.training import Budget, HParams, train_model
from bench.tuning import HParamSpace
from nas.errors import TrainingError

torch.set_num_threads(1)


def shifted_by(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Reference: ``image`` (C, H, W) moved by (dy, dx), uncovered border = edge pixels."""
    _, height, width = image.shape
    rows = (torch.arange(height) - dy).clamp(0, height - 1)
    cols = (torch.arange(width) - dx).clamp(0, width - 1)
    return image[:, rows][:, :, cols]


def test_every_image_is_its_input_moved_by_one_allowed_offset():
    x = torch.randn(200, 3, 6, 5)
    out = random_shift(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    seen = set()
    for image, moved in zip(x, out, strict=True):
        matches = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                   if torch.equal(shifted_by(image, dy, dx), moved)]
        assert len(matches) == 1, "each output is exactly one shift of its own input"
        seen.add(matches[0])
    assert len(seen) == 9, "all nine offsets occur over 200 images"


def test_larger_shift_and_seeding():
    x = torch.randn(64, 1, 8, 8)
    a = random_shift(x, torch.Generator().manual_seed(5), max_shift=2)
    b = random_shift(x, torch.Generator().manual_seed(5), max_shift=2)
    c = random_shift(x, torch.Generator().manual_seed(6), max_shift=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    for image, moved in zip(x, a, strict=True):
        assert any(torch.equal(shifted_by(image, dy, dx), moved)
                   for dy in range(-2, 3) for dx in range(-2, 3))


def test_unknown_augmentation_is_refused():
    assert augmenter(None, torch.Generator()) is None
    with pytest.raises(ValueError, match="unknown augmentation 'flip'"):
        augmenter("flip", torch.Generator())


def test_image_tasks_declare_shift_and_others_none():
    assert get_task("digits").augmentation == "shift"
    assert get_task("wine").augmentation is None


def test_augmented_training_learns_digits_and_changes_the_run():
    task = get_task("digits")

    def run(augment):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(),
                              nn.Linear(16 * 64, 10))
        return train_model(model, task, HParams(lr=3e-3, augment=augment),
                           Budget(max_epochs=10), seed=0)

    plain, shifted = run(False), run(True)
    assert shifted.val_score > 0.9
    assert shifted.history[0]["train_loss"] != plain.history[0]["train_loss"]


def test_augment_on_a_task_without_augmentation_fails_clearly():
    model = nn.Sequential(nn.Linear(13, 3))
    with pytest.raises(TrainingError, match="declares no augmentation"):
        train_model(model, get_task("wine"), HParams(augment=True), Budget(max_epochs=1))


def test_tuner_offers_augment_only_for_augmentable_tasks():
    space = HParamSpace()
    # the default trial augments long runs only: it pays from about 20 epochs on
    assert space.default_params(1000, augmentable=True, epochs=5)["augment"] is False
    assert space.default_params(1000, augmentable=True, epochs=20)["augment"] is True
    assert "augment" not in space.default_params(1000, augmentable=False, epochs=30)
    assert "augment" not in space.default_params(1000, augmentable=False)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    choices = {space.suggest(study.ask(), 1000, augmentable=True).augment for _ in range(20)}
    assert choices == {True, False}
    plain = [space.suggest(study.ask(), 1000).augment for _ in range(5)]
    assert plain == [False] * 5
