"""Every party derives the same split and starting models from the run config alone."""

from __future__ import annotations

import numpy as np
import torch

from fedot.config import RunConfig
from fedot.federation import client_partitions, client_share, initial_model, run_dataset, server_indices

CONFIG = RunConfig(clients=5, server_samples=100, val_fraction=0.2)


def test_server_and_clients_hold_disjoint_examples_covering_the_training_set() -> None:
    labels = run_dataset(CONFIG).train_labels
    server = server_indices(CONFIG, len(labels))
    parts = client_partitions(CONFIG)
    assert len(server) == 100 and len(parts) == 5
    everything = np.concatenate([server, *parts])
    assert len(everything) == len(np.unique(everything)) == len(labels)


def test_the_split_is_a_function_of_the_config() -> None:
    first = client_partitions(CONFIG)
    again = client_partitions(RunConfig.from_flower(CONFIG.to_flower()))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    other_seed = client_partitions(CONFIG.replace(seed=1))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other_seed))


def test_client_share_splits_off_validation_rows() -> None:
    part = client_partitions(CONFIG)[2]
    share = client_share(CONFIG, 2, 5)
    assert np.array_equal(np.sort(np.concatenate([share.train, share.validation])), part)
    assert len(share.validation) == round(0.2 * len(part))
    assert len(client_share(CONFIG.replace(val_fraction=0.0), 2, 5).validation) == 0


def test_initial_models_are_seeded_per_party() -> None:
    dataset = run_dataset(CONFIG)
    server, server_again = initial_model(CONFIG, dataset), initial_model(CONFIG, dataset)
    client0, client1 = initial_model(CONFIG, dataset, 0), initial_model(CONFIG, dataset, 1)
    first = lambda model: next(model.parameters())  # noqa: E731
    assert torch.equal(first(server), first(server_again))
    assert not torch.equal(first(server), first(client0))
    assert not torch.equal(first(client0), first(client1))
