"""Find processes a test started, to prove it stopped every one of them."""

from __future__ import annotations

import time
from pathlib import Path

from fedot.flower.processes import processes_under


def leftover_processes(prefix: Path, wait: float = 0.0) -> list[str]:
    """Live processes whose FLWR_HOME or RAY_TMPDIR, cwd or an open file lies under ``prefix``.

    With ``wait`` > 0, polls that long for them to go (Flower's executors exit
    a moment after their parent). Returns ``"pid command"`` per process.
    """
    deadline = time.monotonic() + wait
    while True:
        found = [f"{pid} {command}" for pid, command in processes_under(prefix).items()]
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)
