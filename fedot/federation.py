"""What each party of a federated run holds — data and starting model — from its ``RunConfig`` alone.

The server, every client and the ``simulate`` command each compute the same split
from the config (seeded), so no index lists travel and two strategies run on
identical data. The training set is divided once: ``server-samples`` images go
to the server (unlabelled use only: activation alignment, repair), the rest is
partitioned across the clients; each client may keep ``val-fraction`` of its part
for Flower's client-side evaluation. Models start from seeded initialisations:
the server's, or with ``init = "different"`` one per client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor, nn

from fedot.config import RunConfig
from fedot.data import ImageDataset, load_dataset, normalized_batches
from fedot.data.partition import make_partitions
from fedot.models import build_model


@dataclass(frozen=True)
class ClientShare:
    """One client's examples: row indices into the training split."""

    train: np.ndarray
    validation: np.ndarray


@lru_cache(maxsize=4)
def load_run_dataset(name: str, data_dir: str) -> ImageDataset:
    """The data set a run names, loaded once per process (Flower reuses processes across rounds)."""
    return load_dataset(name, data_dir or None)


def run_dataset(config: RunConfig) -> ImageDataset:
    return load_run_dataset(config.dataset, config.data_dir)


def server_indices(config: RunConfig, num_train: int) -> np.ndarray:
    """The training rows the server holds, a seeded random choice of ``server-samples`` rows."""
    return _server_and_pool(config.seed, config.server_samples, num_train)[0]


def server_dataset(config: RunConfig) -> ImageDataset:
    """The run's data set on the server's device (a GPU when there is one)."""
    dataset = run_dataset(config)
    return dataset.to("cuda") if torch.cuda.is_available() else dataset


SERVER_BATCH = 100
"""Batch size of the server-held inputs (activation alignment, repair, selection, distillation)."""


def server_batches(config: RunConfig, dataset: ImageDataset) -> list[Tensor] | None:
    """Normalised batches of the server-held training images (never labels), or None without any."""
    if config.server_samples == 0:
        return None
    rows = server_indices(config, len(dataset.train_labels))
    return normalized_batches(
        dataset, num_batches=-(-len(rows) // SERVER_BATCH), batch_size=SERVER_BATCH, indices=rows, seed=config.seed
    )


def client_partitions(config: RunConfig, num_clients: int | None = None) -> list[np.ndarray]:
    """Every client's rows of the training split (before any validation split)."""
    return list(_client_partitions(config, num_clients or config.clients))


def client_share(config: RunConfig, client: int, num_clients: int) -> ClientShare:
    """Client ``client`` of ``num_clients``: its training rows and its validation rows."""
    if not 0 <= client < num_clients:
        raise ValueError(f"partition-id {client} is outside 0..{num_clients - 1} (num-partitions={num_clients})")
    rows = client_partitions(config, num_clients)[client]
    if config.val_fraction == 0 or len(rows) < 2:
        return ClientShare(rows, rows[:0])
    order = np.random.default_rng([config.seed, client]).permutation(rows)
    held = max(1, int(round(config.val_fraction * len(rows))))
    return ClientShare(np.sort(order[held:]), np.sort(order[:held]))


def _server_and_pool(seed: int, server_samples: int, num_train: int) -> tuple[np.ndarray, np.ndarray]:
    if server_samples >= num_train:
        raise ValueError(
            f"server-samples={server_samples} leaves no training images for the clients "
            f"(the training split has {num_train}); lower it"
        )
    order = np.random.default_rng([seed, 7]).permutation(num_train)
    return np.sort(order[:server_samples]), np.sort(order[server_samples:])


@lru_cache(maxsize=8)
def _client_partitions(config: RunConfig, num_clients: int) -> tuple[np.ndarray, ...]:
    """Cached per process: partitioning 60k labels takes seconds with flwr-datasets."""
    labels = run_dataset(config).train_labels.numpy()
    _, pool = _server_and_pool(config.seed, config.server_samples, len(labels))
    partition = config.replace(clients=num_clients).partition_config()
    parts = make_partitions(labels[pool], partition)
    return tuple(pool[part] for part in parts)


def initial_model(config: RunConfig, dataset: ImageDataset, client: int | None = None) -> nn.Module:
    """The run's starting model: the server's (``client=None``) or client ``client``'s own.

    Seeded, so every process that builds it gets the same weights.
    """
    seed = config.seed if client is None else 1_000_003 * (config.seed + 1) + client
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build_model(config.model, dataset.input_shape, dataset.num_classes)


def client_train_seed(config: RunConfig, server_round: int, client: int) -> int:
    """The seed of client ``client``'s local training (example order) in round ``server_round``."""
    return 1_000_003 * server_round + 7919 * client + config.seed


def client_start_model(
    config: RunConfig,
    dataset: ImageDataset,
    client: int,
    server_round: int,
    global_state: Mapping[str, Tensor] | None,
) -> nn.Module:
    """The model client ``client`` starts round ``server_round`` from.

    With ``init = "different"`` the first round starts from the client's own seeded
    initialisation (the paper's one-shot setting); otherwise from the server's model,
    ``global_state`` (the server's initial model when None).
    """
    if config.init == "different" and server_round == 1:
        return initial_model(config, dataset, client)
    model = initial_model(config, dataset)
    if global_state is not None:
        model.load_state_dict(global_state)
    return model
