"""The local training loop that clients and benchmarks share.

The data set stays where it is (move it once with ``ImageDataset.to``); each step
gathers a batch of uint8 images by index, augments and normalises it as tensor
ops on that device, and takes one optimizer step. Nothing runs per example in
Python, and no DataLoader is involved.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from fedot.data.augment import random_crop_flip
from fedot.data.batches import as_index_tensor, shuffled_batches
from fedot.data.dataset import ImageDataset, normalize
from fedot.train.config import TrainConfig
from fedot.train.precision import autocast, place_model, prepare_inputs
from fedot.train.schedule import lr_factor


@dataclass(frozen=True)
class TrainResult:
    """What a training run reports: ``loss``/``accuracy`` are means over its final pass over the data."""

    loss: float
    accuracy: float
    num_examples: int
    """Distinct training examples (the client's data size: the FedAvg weight)."""
    steps: int
    seconds: float
    epoch_losses: tuple[float, ...]
    """Mean loss of each pass over the data (the last may be partial when ``steps`` is set)."""


def make_optimizer(parameters: Iterable[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``config`` names, with its learning rate, momentum, decay and betas."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=config.lr, momentum=config.momentum,
            nesterov=config.nesterov, weight_decay=config.weight_decay,
        )
    optimizer_class = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return optimizer_class(parameters, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)


def train(
    model: nn.Module,
    dataset: ImageDataset,
    config: TrainConfig,
    *,
    indices: Sequence[int] | np.ndarray | torch.Tensor | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``indices`` of the training split (default: all of it).

    The model is moved to the data set's device. For a given seed and initial
    model, a CPU run is bit-for-bit repeatable.
    """
    device = dataset.device
    images, labels = dataset.train_images, dataset.train_labels
    pool = as_index_tensor(indices, len(labels), device)
    if pool.numel() == 0:
        raise ValueError("cannot train on an empty set of examples (indices is empty)")
    if config.drop_last and pool.numel() < config.batch_size:
        raise ValueError(
            f"drop_last with batch_size={config.batch_size} leaves no batch from {pool.numel()} examples; "
            f"lower batch_size or set drop_last=False"
        )
    per_epoch = pool.numel() // config.batch_size if config.drop_last else math.ceil(pool.numel() / config.batch_size)
    total_steps = config.steps if config.steps is not None else config.epochs * per_epoch
    augment = dataset.augment if config.augment is None else config.augment
    channels_last = config.channels_last

    place_model(model, device, channels_last).train()
    optimizer = make_optimizer(model.parameters(), config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, config))
    generator = torch.Generator(device=device).manual_seed(config.seed)
    mean = torch.tensor(dataset.mean, device=device)
    std = torch.tensor(dataset.std, device=device)
    bar = tqdm(total=total_steps, unit="step", disable=not (config.progress and sys.stderr.isatty()))

    start = time.perf_counter()
    step = 0
    epoch_losses: list[float] = []
    while step < total_steps:
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        for batch in shuffled_batches(pool, config.batch_size, generator, config.drop_last):
            x, y = images[batch], labels[batch]
            if augment:
                x = random_crop_flip(x, generator=generator)
            x = prepare_inputs(normalize(x, mean, std), channels_last)
            with autocast(device, config.mixed_precision):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(dim=1) == y).sum()
            seen += len(y)
            step += 1
            bar.update()
            if step == total_steps:
                break
        epoch_losses.append(float(loss_sum) / seen)
        bar.set_postfix(loss=f"{epoch_losses[-1]:.4f}")
    bar.close()
    return TrainResult(
        loss=epoch_losses[-1],
        accuracy=float(correct) / seen,
        num_examples=int(pool.numel()),
        steps=total_steps,
        seconds=time.perf_counter() - start,
        epoch_losses=tuple(epoch_losses),
    )
