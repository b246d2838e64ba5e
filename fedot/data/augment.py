"""Batched data augmentation on uint8 tensors, on whatever device they live."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(
    images: torch.Tensor, *, padding: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random ``padding``-pixel translation (zero-padded crop) and horizontal flip of each image.

    ``images`` is N×C×H×W; the result has the same shape and dtype, laid out
    channels_last (what convolutions on a GPU want). Each image is independently
    shifted by up to ``padding`` pixels per axis and flipped with probability ½ —
    torchvision's ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()``, as one
    gather for the whole batch. ``generator`` must live on ``images.device``.
    """
    n, _, height, width = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding)).permute(0, 2, 3, 1)
    shift_y = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    shift_x = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    flip = torch.rand((n, 1), generator=generator, device=device) < 0.5
    rows = shift_y + torch.arange(height, device=device)
    cols = shift_x + torch.arange(width, device=device)
    cols = torch.where(flip, cols.flip(1), cols)
    batch = torch.arange(n, device=device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
