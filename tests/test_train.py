"""The local training loop: it learns, repeats itself for a seed, honours its config, and augments in batches."""

import math

import pytest
import torch
from torch import nn

from fedot.data import ImageDataset, load_dataset, normalized_batches, random_crop_flip
from fedot.models import build_model
from fedot.train import TrainConfig, evaluate, lr_factor, train


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    return load_dataset("digits")


def _mlp(dataset: ImageDataset, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("mlp", dataset.input_shape, dataset.num_classes)


def test_short_training_run_lowers_the_loss(digits: ImageDataset) -> None:
    model = _mlp(digits)
    before = evaluate(model, digits)
    result = train(model, digits, TrainConfig(epochs=3, lr=0.05, momentum=0.9))
    after = evaluate(model, digits)
    assert len(result.epoch_losses) == 3 and result.epoch_losses[-1] < 0.5 * result.epoch_losses[0]
    assert after.loss < 0.5 * before.loss and after.accuracy > 0.85
    assert result.num_examples == 1437 and result.steps == 3 * math.ceil(1437 / 64) and result.seconds > 0


def test_same_seed_same_weights_on_cpu(digits: ImageDataset) -> None:
    config = TrainConfig(epochs=1, seed=3, optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=1e-4)
    first, again, other = _mlp(digits), _mlp(digits), _mlp(digits)
    train(first, digits, config)
    train(again, digits, config)
    train(other, digits, TrainConfig(epochs=1, seed=4, momentum=0.9, nesterov=True, weight_decay=1e-4))
    for a, b, c in zip(first.parameters(), again.parameters(), other.parameters()):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, c) for a, c in zip(first.parameters(), other.parameters()))


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_steps_mode_on_a_client_subset(digits: ImageDataset, optimizer: str) -> None:
    subset = torch.arange(0, 1437, 7)
    result = train(_mlp(digits), digits, TrainConfig(steps=10, batch_size=32, optimizer=optimizer, lr=1e-3), indices=subset)
    assert result.steps == 10 and result.num_examples == len(subset)
    assert len(result.epoch_losses) == 2  # 7 full batches, then 3 of the next pass


def test_schedules_follow_their_definitions() -> None:
    warm = TrainConfig(schedule="cosine", warmup=0.1)
    assert [lr_factor(s, 100, warm) for s in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert lr_factor(10, 100, warm) == pytest.approx(1.0)
    assert lr_factor(55, 100, warm) == pytest.approx(0.5)
    assert lr_factor(99, 100, warm) < 0.001
    step = TrainConfig(schedule="step", milestones=(0.5, 0.75), gamma=0.1)
    assert [lr_factor(s, 100, step) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    assert lr_factor(42, 100, TrainConfig()) == 1.0


def test_scheduler_drives_the_optimizer(digits: ImageDataset) -> None:
    model = _mlp(digits)
    seen: list[float] = []
    original_step = torch.optim.SGD.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original_step(self, *args, **kwargs)

    torch.optim.SGD.step = spy
    try:
        train(model, digits, TrainConfig(steps=4, lr=0.1, schedule="step", milestones=(0.5,), gamma=0.5))
    finally:
        torch.optim.SGD.step = original_step
    assert seen == pytest.approx([0.1, 0.1, 0.05, 0.05])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"optimizer": "rmsprop"}, "optimizer must be one of: sgd, adam, adamw"),
        ({"schedule": "poly"}, "schedule must be one of: constant, step, cosine"),
        ({"lr": 0}, "lr must be a number > 0"),
        ({"epochs": 0}, "epochs must be an integer ≥ 1"),
        ({"steps": 0}, "steps must be None or an integer ≥ 1"),
        ({"momentum": 0.0, "nesterov": True}, "Nesterov needs momentum"),
        ({"warmup": 1.0}, r"warmup must be a fraction in \[0, 1\)"),
        ({"milestones": (0.8, 0.2)}, "milestones must be increasing fractions"),
    ],
)
def test_config_errors_name_the_field(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)


def test_config_round_trips_through_plain_data() -> None:
    config = TrainConfig.from_dict({"optimizer": "adam", "betas": [0.8, 0.99], "milestones": [0.3]})
    assert config.betas == (0.8, 0.99) and TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"unknown training option\(s\) \['learning_rate'\]"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_training_rejects_empty_or_out_of_range_indices(digits: ImageDataset) -> None:
    with pytest.raises(ValueError, match="empty"):
        train(_mlp(digits), digits, TrainConfig(), indices=[])
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 1437\)"):
        train(_mlp(digits), digits, TrainConfig(), indices=[0, 5000])


def test_crop_flip_moves_pixels_without_inventing_them() -> None:
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    flipped_only = random_crop_flip(images, padding=0, generator=torch.Generator().manual_seed(0))
    for original, out in zip(images, flipped_only):
        assert torch.equal(out, original) or torch.equal(out, original.flip(-1))
    out = random_crop_flip(images, padding=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(len(images)):
        candidates = [
            view
            for dy in range(5)
            for dx in range(5)
            for view in (padded[i, :, dy : dy + 8, dx : dx + 8], padded[i, :, dy : dy + 8, dx : dx + 8].flip(-1))
        ]
        assert any(torch.equal(out[i], c) for c in candidates)
    again = random_crop_flip(images, padding=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_augmented_training_runs_on_colour_images() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (64,), generator=generator)
    data = ImageDataset("tiny-rgb", images, labels, images[:8], labels[:8], tuple("abcdefghij"),
                        (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), augment=True)
    torch.manual_seed(0)
    model = build_model("cnn", data.input_shape, 10)
    result = train(model, data, TrainConfig(steps=2, batch_size=32))
    assert result.steps == 2 and math.isfinite(result.loss)


def test_normalized_batches_for_the_fusion_step(digits: ImageDataset) -> None:
    batches = normalized_batches(digits, num_batches=3, batch_size=100, seed=1)
    assert [b.shape for b in batches] == [(100, 1, 8, 8)] * 3 and batches[0].dtype == torch.float32
    again = normalized_batches(digits, num_batches=3, batch_size=100, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(batches, again))
    few = normalized_batches(digits, num_batches=4, batch_size=10, indices=range(25))
    assert [len(b) for b in few] == [10, 10, 5]
    rows = torch.cat(few).flatten(1)
    assert len(torch.unique(rows, dim=0)) == len(torch.unique(digits.train_images[:25].flatten(1), dim=0))
