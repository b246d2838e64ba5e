"""fedot's Flower ClientApp: train the received model on this node's partition, or evaluate it.

The node's share of the data comes from its node config (``partition-id``,
``num-partitions``; the Simulation Engine sets both, a SuperNode gets them from
``--node-config``) and the run config. Replies follow ``fedot.messages``: the
trained weights and :class:`~fedot.messages.TrainMetrics`, whose ``num-examples``
is the client's weight in aggregation.
"""

from __future__ import annotations

import torch
from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from fedot.config import RunConfig
from fedot.data import ImageDataset
from fedot.federation import client_share, client_start_model, client_train_seed, initial_model, run_dataset
from fedot.messages import (
    ARRAYS,
    NUM_PARTITIONS,
    PARTITION_ID,
    EvalMetrics,
    TrainMetrics,
    evaluate_reply,
    server_round,
    train_reply,
)
from fedot.train import evaluate, train

app = ClientApp()


@app.train()
def train_model(msg: Message, context: Context) -> Message:
    """Train on this node's partition; reply with the weights and training metrics."""
    config = RunConfig.from_flower(context.run_config)
    client, num_clients = node_partition(context)
    dataset = device_dataset(config)
    share = client_share(config, client, num_clients)
    round_number = server_round(msg)
    global_state = msg.content[ARRAYS].to_torch_state_dict()
    model = client_start_model(config, dataset, client, round_number, global_state)
    seed = client_train_seed(config, round_number, client)
    result = train(model, dataset, config.train_config(seed=seed), indices=share.train)
    metrics = TrainMetrics(result.num_examples, client, result.loss, result.accuracy, result.seconds)
    return train_reply(msg, model.cpu().state_dict(), metrics)


@app.evaluate()
def evaluate_model(msg: Message, context: Context) -> Message:
    """Evaluate the received model on this node's validation share (``val-fraction`` of its data)."""
    config = RunConfig.from_flower(context.run_config)
    client, num_clients = node_partition(context)
    share = client_share(config, client, num_clients)
    if len(share.validation) == 0:
        raise ValueError(
            f"client {client} holds no validation examples: set val-fraction > 0 to use "
            f"client-side evaluation"
        )
    dataset = device_dataset(config)
    model = initial_model(config, dataset)
    model.load_state_dict(msg.content[ARRAYS].to_torch_state_dict())
    result = evaluate(model, dataset, split="train", indices=share.validation)
    return evaluate_reply(msg, EvalMetrics(result.num_examples, client, result.loss, result.accuracy))


def node_partition(context: Context) -> tuple[int, int]:
    """``(partition-id, num-partitions)`` from the node config, with a clear error when absent."""
    try:
        client = int(context.node_config[PARTITION_ID])
        num_clients = int(context.node_config[NUM_PARTITIONS])
    except KeyError as missing:
        raise ValueError(
            f"node config lacks {missing}; start the SuperNode with "
            f'--node-config "partition-id=<i> num-partitions=<n>"'
        ) from None
    return client, num_clients


def device_dataset(config: RunConfig) -> ImageDataset:
    """The run's data set, on the GPU when this client was given one; threads capped to its CPUs."""
    torch.set_num_threads(max(1, int(config.cpus_per_client)))
    dataset = run_dataset(config)
    if config.gpus_per_client > 0 and torch.cuda.is_available():
        return _on_cuda(dataset)
    return dataset


_cuda_copies: dict[int, ImageDataset] = {}


def _on_cuda(dataset: ImageDataset) -> ImageDataset:
    """One GPU copy per data set and process: the worker keeps it across rounds."""
    if id(dataset) not in _cuda_copies:
        _cuda_copies[id(dataset)] = dataset.to("cuda")
    return _cuda_copies[id(dataset)]
