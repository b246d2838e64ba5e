"""Checks a training reply must pass before any strategy aggregates it.

A client that sends weights of the wrong shape, a missing tensor, NaN/Inf or a
bad example count must not take the server down or poison the global model:
its reply is rejected with a reason that names the tensor and the fix.
"""

from __future__ import annotations

import math

import numpy as np
from flwr.app import ArrayRecord, RecordDict

from fedot.messages import NUM_EXAMPLES, reply_arrays, reply_metrics


def train_reply_problem(content: RecordDict, sent: ArrayRecord, weight_key: str = NUM_EXAMPLES) -> str | None:
    """Why ``content`` (a train reply to a message carrying ``sent``) cannot be aggregated, or None.

    A usable reply has exactly one ArrayRecord with the same tensor names and
    shapes as ``sent``, all finite, and exactly one MetricRecord whose
    ``weight_key`` is a positive number.
    """
    if len(content.array_records) != 1 or len(content.metric_records) != 1:
        return (
            f"expected one ArrayRecord and one MetricRecord, got {len(content.array_records)} "
            f"and {len(content.metric_records)}"
        )
    weight = reply_metrics(content).get(weight_key)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight <= 0:
        return f"metric {weight_key!r} must be a positive number, got {weight!r}"
    arrays = reply_arrays(content)
    missing = [name for name in sent if name not in arrays]
    if missing:
        return f"missing tensor(s) {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}"
    extra = [name for name in arrays if name not in sent]
    if extra:
        return f"unexpected tensor(s) {', '.join(extra[:3])}{' …' if len(extra) > 3 else ''}"
    for name, expected in sent.items():
        array = arrays[name]
        if tuple(array.shape) != tuple(expected.shape):
            return f"`{name}` has shape {tuple(array.shape)}, expected {tuple(expected.shape)}"
        values = array.numpy()
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            return f"`{name}` contains NaN or Inf"
    return None
