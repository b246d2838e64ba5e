"""The in-memory image data set every other part of fedot reads.

Images stay uint8 (N×C×H×W) until a batch is drawn, so a whole training set fits
on the GPU; ``normalize`` turns a batch into float on whatever device it lives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

Split = Literal["train", "test"]


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A labelled image data set with a train and a test split, held as tensors.

    Guarantees (checked on construction): images are uint8 N×C×H×W, labels are
    int64 of length N with values in ``range(num_classes)``, both splits share
    one image shape, and ``mean``/``std`` hold one value per channel (of pixels
    scaled to [0, 1], computed on the training split).
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool = False
    """Whether random crop and horizontal flip suit these images (natural photos such as CIFAR)."""

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images, labels = self.split(split)
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise ValueError(
                    f"{self.name}: {split}_images must be uint8 N×C×H×W, "
                    f"got {images.dtype} of shape {tuple(images.shape)}"
                )
            if labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
                raise ValueError(
                    f"{self.name}: {split}_labels must be int64 of shape ({images.shape[0]},), "
                    f"got {labels.dtype} of shape {tuple(labels.shape)}"
                )
            if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < len(self.classes):
                raise ValueError(
                    f"{self.name}: {split} labels must lie in [0, {len(self.classes)}), "
                    f"got [{int(labels.min())}, {int(labels.max())}]"
                )
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise ValueError(
                f"{self.name}: train images are {tuple(self.train_images.shape[1:])} "
                f"but test images are {tuple(self.test_images.shape[1:])}"
            )
        channels = self.train_images.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(
                f"{self.name}: mean and std need {channels} values (one per channel), "
                f"got {len(self.mean)} and {len(self.std)}"
            )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image: what ``build_model`` takes."""
        c, h, w = self.train_images.shape[1:]
        return (c, h, w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def device(self) -> torch.device:
        return self.train_images.device

    def split(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(images, labels)`` of the ``"train"`` or ``"test"`` split."""
        if split == "train":
            return self.train_images, self.train_labels
        if split == "test":
            return self.test_images, self.test_labels
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")

    def to(self, device: torch.device | str) -> ImageDataset:
        """Return this data set with all four tensors on ``device`` (self if already there)."""
        device = torch.device(device)
        if self.device == device:
            return self
        return dataclasses.replace(
            self,
            train_images=self.train_images.to(device),
            train_labels=self.train_labels.to(device),
            test_images=self.test_images.to(device),
            test_labels=self.test_labels.to(device),
        )

    def __repr__(self) -> str:
        return (
            f"ImageDataset({self.name!r}, train={len(self.train_labels)}, "
            f"test={len(self.test_labels)}, input_shape={self.input_shape}, "
            f"classes={self.num_classes}, device={self.device})"
        )


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images scaled to [0, 1].

    Exact (from a 256-bin histogram per channel) and without a float copy of the images.
    """
    levels = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = torch.bincount(images[:, channel].reshape(-1), minlength=256).cpu().to(torch.float64)
        total = counts.sum()
        mean = (counts * levels).sum() / total
        var = (counts * (levels - mean).square()).sum() / total
        means.append(float(mean))
        stds.append(float(var.sqrt()))
    return tuple(means), tuple(stds)


def build_image_dataset(
    name: str,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    classes: Sequence[str],
    augment: bool = False,
) -> ImageDataset:
    """Make an ``ImageDataset``, computing ``mean``/``std`` from the training images."""
    mean, std = channel_stats(train_images)
    return ImageDataset(
        name=name,
        train_images=train_images.contiguous(),
        train_labels=train_labels.to(torch.int64),
        test_images=test_images.contiguous(),
        test_labels=test_labels.to(torch.int64),
        classes=tuple(str(c) for c in classes),
        mean=mean,
        std=std,
        augment=augment,
    )


def normalize(
    images: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """Turn a uint8 batch (N×C×H×W) into float32 ``(x / 255 - mean) / std`` on the batch's device.

    The memory format (e.g. channels_last) of ``images`` is kept.
    """
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return images.to(torch.float32).mul_(1.0 / 255).sub_(mean_t).div_(std_t)
