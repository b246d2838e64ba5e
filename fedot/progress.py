"""Live progress of a run, read from the events the ServerApp appends (``fedot.monitor.RunEvents``).

The ServerApp runs in another process (Flower's simulation or a deployed
SuperLink); the JSON-lines file in the output folder is the channel. On a
terminal one status line is redrawn in place; elsewhere (logs, CI) each
milestone is printed once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO


class ProgressView:
    """Follows ``events.jsonl`` and renders what changed since the last ``update``."""

    def __init__(self, path: Path, rounds: int, stream: TextIO = sys.stderr) -> None:
        self.path = path
        self.rounds = rounds
        self.stream = stream
        self.interactive = stream.isatty()
        self._offset = 0
        self._status = ""

    def update(self) -> None:
        """Read new events and show them."""
        for event in self._new_events():
            self._show(event)

    def close(self) -> None:
        self.update()
        if self.interactive and self._status:
            self.stream.write("\n")
            self.stream.flush()

    def _new_events(self) -> list[dict[str, Any]]:
        try:
            with self.path.open() as file:
                file.seek(self._offset)
                chunk = file.read()
        except FileNotFoundError:
            return []
        complete = chunk[: chunk.rfind("\n") + 1]  # a line still being written waits for the next read
        self._offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def _show(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        strategy = event.get("strategy", "")
        if kind == "round":
            phase = "training" if event["phase"] == "train" else "evaluating"
            self._status_line(f"[{strategy}] round {event['round']}/{self.rounds}: {phase} on {event['clients']} clients")
        elif kind == "reply":
            phase = "trained" if event["phase"] == "train" else "evaluated"
            self._status_line(
                f"[{strategy}] round {event['round']}/{self.rounds}: {event['done']}/{event['of']} clients {phase}"
            )
        elif kind == "failure":
            self._milestone(f"[{strategy}] round {event['round']}: node {event['node']} failed: {event['reason']}")
        elif kind == "evaluated" and event["round"] > 0:
            ensemble = event.get("ensemble_accuracy")
            extra = f", client ensemble {100 * ensemble:.2f} %" if ensemble is not None else ""
            self._milestone(
                f"[{strategy}] round {event['round']}/{self.rounds}: global model {100 * event['accuracy']:.2f} %{extra}"
            )
        elif kind == "strategy-done" and event.get("error"):
            self._milestone(f"[{strategy}] stopped: {event['error']}")

    def _status_line(self, text: str) -> None:
        if self.interactive:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self._status = text

    def _milestone(self, text: str) -> None:
        if self.interactive and self._status:
            self.stream.write("\r\033[K")
            self._status = ""
        self.stream.write(text + "\n")
        self.stream.flush()
