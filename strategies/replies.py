"""Pure helpers of fedot's strategies: from valid train replies to a fedot aggregation's global model."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from logging import INFO

import torch
from flwr.app import ArrayRecord, Message, MetricRecord
from flwr.common import log
from flwr.serverapp.strategy import FedAvg
from torch import nn

from fedot.aggregation import Aggregation
from fedot.fusion.aggregate import aggregate
from fedot.messages import reply_arrays, reply_metrics


def aggregate_replies(
    strategy: FedAvg,
    server_round: int,
    replies: Iterable[Message],
    aggregation: Aggregation,
    model_fn: Callable[[], nn.Module],
    server_inputs: Sequence[torch.Tensor] | None,
) -> tuple[ArrayRecord | None, MetricRecord | None]:
    """``strategy``'s ``aggregate_train`` with ``aggregation`` in place of FedAvg's mean.

    FedAvg checks the replies (as ``FedMedian`` does); the valid replies' models, weighted by
    ``strategy.weighted_by_key``, make the global model; their metrics are aggregated as FedAvg does.
    """
    valid, _ = strategy._check_and_log_replies(replies, is_train=True)
    if not valid:
        return None, None
    weights = reply_weights(valid, strategy.weighted_by_key)
    result = aggregate(aggregation, reply_models(valid, model_fn), weights, server_inputs)
    if result.selection is not None:
        log(INFO, "[round %d] fusion kept candidate: %s", server_round, result.selection.chosen)
    metrics = strategy.train_metrics_aggr_fn([message.content for message in valid], strategy.weighted_by_key)
    return ArrayRecord(result.model.state_dict()), metrics


def reply_models(replies: Sequence[Message], model_fn: Callable[[], nn.Module]) -> list[nn.Module]:
    """Each reply's weights loaded into a fresh model of the federation's architecture (eval mode)."""
    models = []
    for reply in replies:
        model = model_fn()
        model.load_state_dict(reply_arrays(reply.content).to_torch_state_dict())
        models.append(model.eval())
    return models


def reply_weights(replies: Sequence[Message], key: str) -> list[float]:
    """Each reply's aggregation weight (its ``key`` metric, e.g. ``num-examples``)."""
    return [float(reply_metrics(reply.content)[key]) for reply in replies]
