"""MonitoredGrid: replies are watched, unusable ones rejected, lost nodes named, waits bounded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fedot.monitor import REJECTED_REPLY, FederationError, MonitoredGrid, RunEvents
from tests.support.messages import FakeGrid, train_message, train_reply

pytestmark = pytest.mark.usefixtures("task_identity")
ARRAYS = {"w": np.zeros((2, 2), np.float32)}


def answer(message):
    node = message.metadata.dst_node_id
    if node == 3:
        return None  # never answers
    weights = np.full((2, 2), np.nan, np.float32) if node == 2 else np.ones((2, 2), np.float32)
    return train_reply(message, {"w": weights}, examples=node + 1, **{"train-seconds": 0.5})


def monitored(tmp_path: Path, nodes=(0, 1, 2, 3), min_replies: int = 2, expected: int = 4) -> MonitoredGrid:
    return MonitoredGrid(
        FakeGrid(nodes, answer), RunEvents(tmp_path / "events.jsonl"), "test",
        expected_nodes=expected, min_replies=min_replies, node_timeout=0.5, poll_interval=0.01,
    )


def test_usable_replies_pass_unusable_become_errors_and_silent_nodes_are_named(tmp_path: Path) -> None:
    grid = monitored(tmp_path)
    replies = list(grid.send_and_receive([train_message(n, ARRAYS) for n in (0, 1, 2, 3)], timeout=0.3))
    assert sorted(r.metadata.src_node_id for r in replies if not r.has_error()) == [0, 1]
    rejected = [r for r in replies if r.has_error()]
    assert [r.error.code for r in rejected] == [REJECTED_REPLY]
    assert rejected[0].metadata.src_node_id == 2 and "NaN" in rejected[0].error.reason
    assert {f["node"]: f["reason"] for f in grid.failures} == {
        2: "rejected: `w` contains NaN or Inf",
        3: "no reply within 0 s",
    }
    assert [r.metadata.src_node_id for r in grid.last_train_replies] == [0, 1]
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("reply") == 3
    assert [e["event"] for e in events].count("failure") == 2


def test_too_few_usable_replies_raise_a_federation_error(tmp_path: Path) -> None:
    grid = monitored(tmp_path, min_replies=3)
    with pytest.raises(FederationError, match=r"only 2 of 4 clients sent a usable model \(min-replies=3\)"):
        grid.send_and_receive([train_message(n, ARRAYS) for n in (0, 1, 2, 3)], timeout=0.3)


def test_waiting_for_nodes_is_bounded(tmp_path: Path) -> None:
    grid = monitored(tmp_path, nodes=(0,), min_replies=2, expected=3)
    with pytest.raises(FederationError, match="only 1 of 3 nodes connected within 0 s"):
        grid.get_node_ids()


def test_after_the_wait_the_round_goes_on_with_enough_nodes(tmp_path: Path) -> None:
    grid = monitored(tmp_path, nodes=(0, 1), min_replies=2, expected=3)
    assert list(grid.get_node_ids()) == [0, 1]
    assert grid.expected_nodes == 2
