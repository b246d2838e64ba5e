"""``MonitoredGrid``: watch a strategy's rounds from the server side, for any Flower strategy.

It wraps the Grid a ServerApp receives, so FedAvg (Flower's own) and OTFusion
get the same guarantees without either knowing about them: replies are
reported as they arrive (the ``simulate`` command shows them live), a node
that never answers is named, and a training reply that cannot be aggregated
(wrong shapes, NaN, bad weight) is turned into an error reply with its reason
before the strategy sees it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from logging import INFO, WARNING
from pathlib import Path
from typing import Any

from flwr.app import Error, Message, MessageType
from flwr.common import log
from flwr.serverapp import Grid

from fedot.messages import reply_arrays
from fedot.messages import server_round as round_of
from fedot.replies import train_reply_problem

REJECTED_REPLY = 3001
"""Error code of a training reply the server refused to aggregate (see ``fedot.replies``)."""


class FederationError(RuntimeError):
    """A round cannot go on: too few clients sent a usable reply."""


class RunEvents:
    """Append-only JSON-lines record of a run's progress; None path: log only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def emit(self, event: str, **fields: Any) -> None:
        if self.path is None:
            return
        with self.path.open("a") as file:
            file.write(json.dumps({"event": event, "time": time.time(), **fields}) + "\n")


class MonitoredGrid(Grid):
    """A Grid that delegates to ``grid`` and watches every ``send_and_receive``.

    ``last_train_replies`` holds the usable training replies of the latest round
    (the server evaluates the clients' models from them). A training round with
    fewer than ``min_replies`` usable replies raises ``FederationError``.
    """

    def __init__(
        self,
        grid: Grid,
        events: RunEvents,
        label: str,
        *,
        expected_nodes: int,
        min_replies: int,
        node_timeout: float,
        poll_interval: float = 0.05,
    ) -> None:
        self._grid = grid
        self.events = events
        self.label = label
        self.expected_nodes = expected_nodes
        self.min_replies = min(min_replies, expected_nodes)
        self.node_timeout = node_timeout
        self.poll_interval = poll_interval
        self.last_train_replies: list[Message] = []
        self.failures: list[dict[str, Any]] = []

    # Delegation: everything but send_and_receive is the wrapped grid's.
    def set_run(self, run: Any) -> None:
        self._grid.set_run(run)

    @property
    def run(self) -> Any:
        return self._grid.run

    def create_message(self, *args: Any, **kwargs: Any) -> Message:
        return self._grid.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:
        """The connected nodes, once all ``expected_nodes`` are there or ``node_timeout`` has passed.

        Flower's node sampling waits without limit for its minimum; this wait is
        bounded: past ``node_timeout`` the round goes on with the nodes present if
        they are at least ``min_replies``, else ``FederationError`` ends the run.
        """
        deadline = time.monotonic() + self.node_timeout
        while True:
            nodes = list(self._grid.get_node_ids())
            if len(nodes) >= self.expected_nodes:
                return nodes
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        if len(nodes) < self.min_replies:
            raise FederationError(
                f"only {len(nodes)} of {self.expected_nodes} nodes connected within {self.node_timeout:.0f} s "
                f"(min-replies={self.min_replies}); check that the SuperNodes reach the SuperLink"
            )
        log(WARNING, "[%s] going on with %d of %d nodes", self.label, len(nodes), self.expected_nodes)
        self.expected_nodes = len(nodes)
        return nodes

    def get_nodes(self) -> Iterable[Any]:
        return self._grid.get_nodes()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._grid.pull_messages(message_ids)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        """Push ``messages``, collect replies until all are in or ``timeout`` passes, check them."""
        sent = list(messages)
        if not sent:
            return []
        kind = sent[0].metadata.message_type
        server_round = round_of(sent[0])
        pushed = set(self._grid.push_messages(sent))  # the grid sets each message's id in place
        pending = {m.metadata.message_id: m for m in sent if m.metadata.message_id in pushed}
        self.events.emit("round", strategy=self.label, phase=kind, round=server_round, clients=len(sent))
        deadline = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending and (deadline is None or time.monotonic() < deadline):
            arrived = list(self._grid.pull_messages(list(pending)))
            for reply in arrived:
                original = pending.pop(reply.metadata.reply_to_message_id, None)
                if original is None:
                    continue
                checked = self._check(reply, original, kind)
                replies.append(checked)
                self.events.emit(
                    "reply", strategy=self.label, phase=kind, round=server_round,
                    node=original.metadata.dst_node_id, ok=not checked.has_error(),
                    done=len(replies), of=len(sent),
                )
            if pending and not arrived:
                time.sleep(self.poll_interval)
        for message in pending.values():
            self._fail(server_round, kind, message.metadata.dst_node_id, f"no reply within {timeout:.0f} s")
        if kind == MessageType.TRAIN:
            self._keep_train_replies(server_round, replies, len(sent))
        return replies

    def _check(self, reply: Message, original: Message, kind: str) -> Message:
        """The reply, or an error reply in its place when a training reply is unusable."""
        node = original.metadata.dst_node_id
        server_round = round_of(original)
        if reply.has_error():
            reason = reply.error.reason or f"error code {reply.error.code}"
            self._fail(server_round, kind, node, _essential_line(reason))
            return reply
        if kind != MessageType.TRAIN:
            return reply
        sent_arrays = reply_arrays(original.content)
        problem = train_reply_problem(reply.content, sent_arrays)
        if problem is None:
            return reply
        self._fail(server_round, kind, node, f"rejected: {problem}")
        return Message(Error(code=REJECTED_REPLY, reason=f"reply rejected by the server: {problem}"), reply_to=original)

    def _fail(self, server_round: int, kind: str, node: int, reason: str) -> None:
        log(WARNING, "[%s] round %d %s: node %d failed: %s", self.label, server_round, kind, node, reason)
        failure = {"round": server_round, "phase": kind, "node": node, "reason": reason}
        self.failures.append(failure)
        self.events.emit("failure", strategy=self.label, **failure)

    def _keep_train_replies(self, server_round: int, replies: list[Message], sent: int) -> None:
        usable = [reply for reply in replies if not reply.has_error()]
        log(INFO, "[%s] round %d: %d of %d clients sent a usable model", self.label, server_round, len(usable), sent)
        if len(usable) < min(self.min_replies, sent):
            raise FederationError(
                f"round {server_round}: only {len(usable)} of {sent} clients sent a usable model "
                f"(min-replies={self.min_replies}); failures: "
                + "; ".join(f"node {f['node']}: {f['reason']}" for f in self.failures if f["round"] == server_round)
            )
        self.last_train_replies = usable


def _essential_line(text: str) -> str:
    """The informative line of an error reason (Flower wraps client tracebacks as ``<class ...>:<'...'>``)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else text).removesuffix("'>")[:300]
