"""ClientApps that misbehave on purpose, to test that the server survives them.

Each wraps fedot's real ClientApp and breaks the reply of one partition only.
Tests copy this file into a temporary Flower App (see ``flower_apps``).
"""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from clients.client_app import node_partition, train_model

raising = ClientApp()
"""Partition 1 raises during training."""

nan_and_raising = ClientApp()
"""Partition 1 raises; partition 2 replies weights containing NaN."""

wrong_shape = ClientApp()
"""Partition 1 replies its first tensor with an extra row."""

wrong_shape_and_nan = ClientApp()
"""Partition 1 replies its first tensor with an extra row; partition 2 replies NaN weights."""


@raising.train()
def _raise_on_one(msg: Message, context: Context) -> Message:
    if node_partition(context)[0] == 1:
        raise RuntimeError("injected failure in partition 1")
    return train_model(msg, context)


@nan_and_raising.train()
def _nan_on_two(msg: Message, context: Context) -> Message:
    partition = node_partition(context)[0]
    if partition == 1:
        raise RuntimeError("injected failure in partition 1")
    reply = train_model(msg, context)
    if partition == 2:
        return _with_first_array(msg, reply, lambda a: np.full_like(a, np.nan))
    return reply


@wrong_shape.train()
def _wrong_shape_on_one(msg: Message, context: Context) -> Message:
    reply = train_model(msg, context)
    if node_partition(context)[0] == 1:
        return _with_first_array(msg, reply, lambda a: np.concatenate([a, a[:1]]))
    return reply


@wrong_shape_and_nan.train()
def _wrong_shape_on_one_nan_on_two(msg: Message, context: Context) -> Message:
    reply = train_model(msg, context)
    partition = node_partition(context)[0]
    if partition == 1:
        return _with_first_array(msg, reply, lambda a: np.concatenate([a, a[:1]]))
    if partition == 2:
        return _with_first_array(msg, reply, lambda a: np.full_like(a, np.nan))
    return reply


def _with_first_array(msg: Message, reply: Message, change) -> Message:
    arrays = reply.content["arrays"]
    first = next(iter(arrays))
    changed = ArrayRecord({name: Array(change(a.numpy()) if name == first else a.numpy()) for name, a in arrays.items()})
    return Message(RecordDict({"arrays": changed, "metrics": reply.content["metrics"]}), reply_to=msg)
