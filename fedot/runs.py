"""Submit a run to a SuperLink, follow it to its end, and report what it wrote.

Shared by ``fedot.simulate`` (a private simulation SuperLink) and
``fedot.deploy`` (a Deployment Engine SuperLink, here or elsewhere): the
ServerApp writes results.json into the run's output folder; these functions
wait for the run, show its progress, write the command's own timings beside it
(timings.json: only the command knows its wall time, SuperLink and Ray start-up
included) and print the comparison table.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fedot.config import RunConfig
from fedot.flower.connection import Connection, RunStatus
from fedot.flower.toml import ConfigValue
from fedot.progress import ProgressView
from fedot.results import RESULTS_FILE, StrategyReport, format_table

APP_DIR = Path(__file__).resolve().parents[1]
"""fedot's Flower App: the source tree whose pyproject.toml declares the ServerApp and ClientApp."""

TIMINGS_FILE = "timings.json"
"""The launching command's wall time and overhead ratio, beside the ServerApp's results.json."""


def run_and_wait(
    connection: Connection,
    config: RunConfig,
    *,
    app_dir: Path = APP_DIR,
    log_path: Path,
    timeout: float | None = None,
    echo: bool = False,
    progress_events: Path | None = None,
    while_running: Callable[[], None] | None = None,
    federation_config: Mapping[str, ConfigValue] | None = None,
) -> RunStatus:
    """Submit fedot's app with ``config`` on ``connection``; wait until the run ends or ``timeout`` passes.

    The ServerApp's log streams into ``log_path`` (and to stdout with ``echo``);
    ``progress_events`` (an ``events.jsonl`` this machine can read) shows live
    progress; ``while_running`` is called about every 0.2 s; ``federation_config``
    goes to a simulation SuperLink (number of nodes, resources per client). On timeout the run
    is stopped and its status returned, so the caller always gets a final answer
    unless the SuperLink itself is gone.
    """
    run_id = connection.submit(app_dir, config.to_flower(), federation_config)
    follower = connection.follow(run_id, log_path)
    view = ProgressView(progress_events, config.rounds) if progress_events else None
    deadline = None if timeout is None else time.monotonic() + timeout
    shown = 0
    next_check = time.monotonic() + 10.0
    status: RunStatus | None = None
    try:
        while follower.poll() is None:
            if view:
                view.update()
            if echo:
                shown = _echo_new(log_path, shown)
            if while_running:
                while_running()
            if deadline is not None and time.monotonic() > deadline:
                connection.stop_run(run_id)
                break
            if time.monotonic() > next_check:  # the log stream may outlive a lost connection
                status = connection.status(run_id)
                if status.finished:
                    break
                next_check = time.monotonic() + 10.0
            time.sleep(0.2)
    except KeyboardInterrupt:
        connection.stop_run(run_id)
        raise
    finally:
        if view:
            view.close()
        follower.terminate()
        follower.wait(10)
        if echo:
            _echo_new(log_path, shown)
    for _ in range(50):  # the status turns "finished" a moment after the log stream ends
        status = connection.status(run_id)
        if status.finished:
            break
        time.sleep(0.2)
    assert status is not None
    if deadline is not None and time.monotonic() > deadline and not status.succeeded:
        return status.noted(f"gave up after {timeout:.0f} s")
    return status


def _echo_new(path: Path, offset: int) -> int:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            chunk = file.read()
    except FileNotFoundError:
        return offset
    if chunk:
        sys.stdout.write(chunk.decode(errors="replace"))
        sys.stdout.flush()
    return offset + len(chunk)


def status_ok(status: RunStatus, output: Path) -> bool:
    """Whether the run completed with results; otherwise explain where to look."""
    if status.succeeded and (output / RESULTS_FILE).exists():
        return True
    log = output / "flower.log"
    tail = log.read_text(errors="replace")[-2500:] if log.exists() else ""
    print(f"error: the Flower run ended as {status} without results.\n{tail}", file=sys.stderr)
    return False


def command_timings(reports: list[StrategyReport], wall_seconds: float) -> dict[str, Any]:
    """The command's wall time against the work it paid for: every strategy's client training and aggregation.

    ``overhead_ratio`` = wall time ÷ (clients' training + aggregation seconds), the
    figure BENCHMARKS.md reports; below 1 when clients train in parallel.
    """
    training = sum(report.summary()["timings"]["client_training_seconds"] for report in reports)
    aggregation = sum(report.summary()["timings"]["aggregation_seconds"] for report in reports)
    work = training + aggregation
    return {
        "total_wall_seconds": wall_seconds,
        "client_training_seconds": training,
        "aggregation_seconds": aggregation,
        "overhead_ratio": wall_seconds / work if work > 0 else None,
    }


def report_results(status: RunStatus, output: Path, wall_seconds: float) -> int:
    """Print the comparison table of a finished run and write the command's timings; the exit code."""
    if not status_ok(status, output):
        return 1
    results = json.loads((output / RESULTS_FILE).read_text())
    reports = [StrategyReport.from_dict(entry) for entry in results["strategies"].values()]
    timings = command_timings(reports, wall_seconds)
    (output / TIMINGS_FILE).write_text(json.dumps(timings, indent=2))
    ratio = timings["overhead_ratio"]
    print("\n" + format_table(reports))
    print(f"\nwall time {wall_seconds:.1f} s" + (f" (overhead ratio {ratio:.2f})" if ratio is not None else "")
          + f" · results in {output}")
    return 0 if not any(report.error for report in reports) else 1
