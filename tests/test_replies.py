"""A training reply is aggregated only when its tensors match what the server sent."""

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, MetricRecord, RecordDict

from fedot.replies import train_reply_problem

SENT = ArrayRecord({"w": Array(np.zeros((3, 2), np.float32)), "b": Array(np.zeros(3, np.float32))})


def reply(arrays: dict[str, np.ndarray], examples: object = 5) -> RecordDict:
    return RecordDict(
        {
            "arrays": ArrayRecord({k: Array(v) for k, v in arrays.items()}),
            "metrics": MetricRecord({"num-examples": examples}),
        }
    )


def good() -> dict[str, np.ndarray]:
    return {"w": np.ones((3, 2), np.float32), "b": np.ones(3, np.float32)}


def test_a_matching_finite_reply_passes() -> None:
    assert train_reply_problem(reply(good()), SENT) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a | {"w": np.ones((4, 2), np.float32)}, "`w` has shape (4, 2), expected (3, 2)"),
        (lambda a: a | {"b": np.array([1, np.nan, 1], np.float32)}, "`b` contains NaN or Inf"),
        (lambda a: a | {"w": np.full((3, 2), np.inf, np.float32)}, "`w` contains NaN or Inf"),
        (lambda a: {"w": a["w"]}, "missing tensor(s) b"),
        (lambda a: a | {"extra": np.ones(1, np.float32)}, "unexpected tensor(s) extra"),
    ],
)
def test_unusable_tensors_are_named(change, message: str) -> None:
    assert train_reply_problem(reply(change(good())), SENT) == message


@pytest.mark.parametrize("examples", [0, -3, float("nan")])
def test_the_weight_must_be_a_positive_number(examples: float) -> None:
    assert "num-examples" in train_reply_problem(reply(good(), examples), SENT)


def test_exactly_one_array_record_is_expected() -> None:
    content = reply(good())
    content["more"] = ArrayRecord({"w": Array(np.ones((3, 2), np.float32))})
    assert "expected one ArrayRecord" in train_reply_problem(content, SENT)
