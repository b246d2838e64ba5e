"""Accuracy and loss of a model, of a prediction ensemble, and per client."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fedot.data.batches import as_index_tensor
from fedot.data.dataset import ImageDataset, Split, normalize
from fedot.train.precision import autocast, place_model, prepare_inputs

Indices = Sequence[int] | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class EvalResult:
    """Mean cross-entropy ``loss`` and ``accuracy`` over ``num_examples`` examples."""

    loss: float
    accuracy: float
    num_examples: int
    seconds: float


def evaluate(
    model: nn.Module,
    dataset: ImageDataset,
    *,
    split: Split = "test",
    indices: Indices | None = None,
    batch_size: int = 1024,
    mixed_precision: bool = True,
    channels_last: bool = True,
) -> EvalResult:
    """Loss and accuracy of ``model`` on ``indices`` of ``split`` (default: the whole test set).

    The model is moved to the data set's device and evaluated in eval mode; its
    previous train/eval mode is restored afterwards.
    """
    return evaluate_ensemble(
        [model], dataset, split=split, indices=indices, batch_size=batch_size,
        mixed_precision=mixed_precision, channels_last=channels_last,
    )


@torch.no_grad()
def evaluate_ensemble(
    models: Sequence[nn.Module],
    dataset: ImageDataset,
    *,
    split: Split = "test",
    indices: Indices | None = None,
    batch_size: int = 1024,
    mixed_precision: bool = True,
    channels_last: bool = True,
) -> EvalResult:
    """Loss and accuracy of the ensemble that predicts the mean of the models' softmax outputs.

    The loss is the negative log of the mean probability of the true class. With
    one model this is exactly ``evaluate``.
    """
    if not models:
        raise ValueError("evaluate_ensemble needs at least one model")
    start = time.perf_counter()
    images, labels = dataset.split(split)
    device = images.device
    chosen = as_index_tensor(indices, len(labels), device)
    if chosen.numel() == 0:
        raise ValueError(f"cannot evaluate on an empty set of {split} examples")
    modes = [model.training for model in models]
    for model in models:
        place_model(model, device, channels_last).eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    try:
        for batch in chosen.split(batch_size):
            x = prepare_inputs(normalize(images[batch], dataset.mean, dataset.std), channels_last)
            y = labels[batch]
            with autocast(device, mixed_precision):
                log_probs = torch.stack([F.log_softmax(model(x).float(), dim=1) for model in models])
            mean_log_prob = torch.logsumexp(log_probs, dim=0) - math.log(len(models))
            loss_sum += F.nll_loss(mean_log_prob, y, reduction="sum").double()
            correct += (mean_log_prob.argmax(dim=1) == y).sum()
    finally:
        for model, mode in zip(models, modes):
            model.train(mode)
    count = chosen.numel()
    return EvalResult(
        loss=float(loss_sum) / count,
        accuracy=float(correct) / count,
        num_examples=count,
        seconds=time.perf_counter() - start,
    )


def evaluate_per_client(
    model: nn.Module,
    dataset: ImageDataset,
    partitions: Sequence[Indices],
    *,
    split: Split = "train",
    batch_size: int = 1024,
) -> list[EvalResult]:
    """``model`` on each client's own examples (``partitions`` index ``split``): one result per client.

    Shows who a global model serves well; empty clients get NaN loss and accuracy.
    """
    return [
        evaluate(model, dataset, split=split, indices=part, batch_size=batch_size)
        if len(part)
        else EvalResult(loss=math.nan, accuracy=math.nan, num_examples=0, seconds=0.0)
        for part in partitions
    ]
