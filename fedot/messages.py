"""The client–server message format, defined once: record names, config keys and the replies' metrics.

A train instruction carries the global model (ArrayRecord ``arrays``) and a ConfigRecord
``config`` with the ``server-round``; a train reply carries the trained model and a
MetricRecord ``metrics`` (:class:`TrainMetrics`), an evaluate reply only the metrics
(:class:`EvalMetrics`). Metric keys are the fields' names in kebab case; ``num-examples``
is the weight Flower's strategies aggregate by. A SuperNode's node config names its
partition (``partition-id``, ``num-partitions``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TypeVar

from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

ARRAYS = "arrays"
METRICS = "metrics"
CONFIG = "config"
SERVER_ROUND = "server-round"
NUM_EXAMPLES = "num-examples"
PARTITION_ID = "partition-id"
NUM_PARTITIONS = "num-partitions"

Metrics = TypeVar("Metrics", bound="_Record")


class _Record:
    """A dataclass of metrics that maps to a MetricRecord with kebab-case keys."""

    def record(self) -> MetricRecord:
        return MetricRecord({_key(field.name): getattr(self, field.name) for field in dataclasses.fields(self)})

    @classmethod
    def of(cls: type[Metrics], content: RecordDict) -> Metrics:
        """The metrics of a reply's content (missing keys read as 0)."""
        record = reply_metrics(content)
        values = {}
        for field in dataclasses.fields(cls):
            kind = int if field.type in ("int", int) else float
            values[field.name] = kind(record.get(_key(field.name), 0))
        return cls(**values)


@dataclass(frozen=True)
class TrainMetrics(_Record):
    """What a client reports with its trained model."""

    num_examples: int
    partition_id: int
    train_loss: float
    train_accuracy: float
    train_seconds: float


@dataclass(frozen=True)
class EvalMetrics(_Record):
    """What a client reports after evaluating the global model on its validation share."""

    num_examples: int
    partition_id: int
    eval_loss: float
    eval_accuracy: float


def train_reply(request: Message, model_state: dict, metrics: TrainMetrics) -> Message:
    """The reply to a train instruction: the trained tensors and the metrics."""
    content = RecordDict({ARRAYS: ArrayRecord(model_state), METRICS: metrics.record()})
    return Message(content=content, reply_to=request)


def evaluate_reply(request: Message, metrics: EvalMetrics) -> Message:
    return Message(content=RecordDict({METRICS: metrics.record()}), reply_to=request)


def server_round(message: Message) -> int:
    """The round a server instruction belongs to (0 when it names none)."""
    return int(message.content.config_records.get(CONFIG, {}).get(SERVER_ROUND, 0))


def reply_arrays(content: RecordDict) -> ArrayRecord:
    """A reply's (only) ArrayRecord."""
    return next(iter(content.array_records.values()))


def reply_metrics(content: RecordDict) -> MetricRecord:
    """A reply's (only) MetricRecord."""
    return next(iter(content.metric_records.values()))


def _key(field_name: str) -> str:
    return field_name.replace("_", "-")
