"""Batches as index tensors into a data set held on the device: no per-sample Python."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from fedot.data.dataset import ImageDataset, Split, normalize


def as_index_tensor(
    indices: Sequence[int] | np.ndarray | torch.Tensor | None, size: int, device: torch.device
) -> torch.Tensor:
    """``indices`` (default: all of ``range(size)``) as an int64 tensor on ``device``, range-checked."""
    if indices is None:
        return torch.arange(size, device=device)
    index = torch.as_tensor(np.asarray(indices) if not isinstance(indices, torch.Tensor) else indices)
    index = index.to(device=device, dtype=torch.int64).reshape(-1)
    if index.numel() and not (0 <= int(index.min()) and int(index.max()) < size):
        raise ValueError(
            f"indices must lie in [0, {size}), got [{int(index.min())}, {int(index.max())}]"
        )
    return index


def shuffled_batches(
    indices: torch.Tensor, batch_size: int, generator: torch.Generator, drop_last: bool = False
) -> Iterator[torch.Tensor]:
    """One epoch over ``indices`` in a random order drawn from ``generator``, in chunks of ``batch_size``.

    Every index appears exactly once (the last, shorter chunk is skipped when ``drop_last``).
    """
    order = indices[torch.randperm(len(indices), generator=generator, device=indices.device)]
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def normalized_batches(
    dataset: ImageDataset,
    *,
    num_batches: int,
    batch_size: int,
    split: Split = "train",
    indices: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    seed: int = 0,
) -> list[torch.Tensor]:
    """A few normalised float batches of distinct, randomly chosen examples (no augmentation).

    For code that needs model inputs rather than training — e.g. the server's fusion
    step measuring activations. Drawn from ``indices`` of ``split`` (default: all of
    it) with a seeded generator, on the data set's device; the last batch is
    shorter when fewer than ``num_batches * batch_size`` examples are available.
    """
    if num_batches < 1 or batch_size < 1:
        raise ValueError(f"num_batches and batch_size must be ≥ 1, got {num_batches} and {batch_size}")
    images, _ = dataset.split(split)
    pool = as_index_tensor(indices, len(images), images.device)
    if pool.numel() == 0:
        raise ValueError("normalized_batches needs at least one example, got an empty index set")
    generator = torch.Generator(device=images.device).manual_seed(seed)
    chosen = pool[torch.randperm(len(pool), generator=generator, device=images.device)]
    chosen = chosen[: num_batches * batch_size]
    return [
        normalize(images[chunk], dataset.mean, dataset.std) for chunk in chosen.split(batch_size)
    ]
