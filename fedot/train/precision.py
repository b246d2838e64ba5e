"""How a model runs on a device: bf16 autocast and channels_last on CUDA, plain fp32 elsewhere."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def place_model(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    """Move ``model`` (in place) to ``device``; on CUDA optionally to channels_last memory format."""
    model.to(device)
    if device.type == "cuda" and channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def prepare_inputs(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """On CUDA, lay 4-D inputs out channels_last when asked; elsewhere return them unchanged."""
    if images.device.type == "cuda" and channels_last and images.dim() == 4:
        return images.contiguous(memory_format=torch.channels_last)
    return images


@contextlib.contextmanager
def autocast(device: torch.device, mixed_precision: bool) -> Iterator[None]:
    """bf16 autocast on CUDA when ``mixed_precision``; a no-op (fp32) on any other device."""
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and mixed_precision):
        yield
