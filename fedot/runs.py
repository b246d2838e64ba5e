"""Submit a run to a SuperLink, follow it to its end, and report what it wrote.

Shared by ``fedot.simulate`` (a private simulation SuperLink) and
``fedot.deploy`` (a Deployment Engine SuperLink, here or elsewhere): the
ServerApp writes results into the run's output folder; these functions wait for
the run, show its progress and print the comparison table.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fedot.config import RunConfig
from fedot.progress import ProgressView
from fedot.results import RESULTS_FILE, StrategyReport, format_table
from fedot.superlink import ConfigValue, LocalSuperLink, RunStatus

APP_DIR = Path(__file__).resolve().parents[1]
"""fedot's Flower App: the source tree whose pyproject.toml declares the ServerApp and ClientApp."""


def run_and_wait(
    superlink: LocalSuperLink,
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
    """Submit fedot's app with ``config`` to ``superlink``; wait until the run ends or ``timeout`` passes.

    The ServerApp's log streams into ``log_path`` (and to stdout with ``echo``);
    ``progress_events`` (an ``events.jsonl`` this machine can read) shows live
    progress; ``while_running`` is called about every 0.2 s; ``federation_config``
    goes to a simulation SuperLink (number of nodes, resources per client). On timeout the run
    is stopped and its status returned, so the caller always gets a final answer
    unless the SuperLink itself is gone.
    """
    run_id = superlink.submit(app_dir, config.to_flower(), federation_config)
    follower = superlink.follow(run_id, log_path)
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
                superlink.stop_run(run_id)
                break
            if time.monotonic() > next_check:  # the log stream may outlive a lost connection
                status = superlink.status(run_id)
                if status.finished:
                    break
                next_check = time.monotonic() + 10.0
            time.sleep(0.2)
    except KeyboardInterrupt:
        superlink.stop_run(run_id)
        raise
    finally:
        if view:
            view.close()
        follower.terminate()
        follower.wait(10)
        if echo:
            _echo_new(log_path, shown)
    for _ in range(50):  # the status turns "finished" a moment after the log stream ends
        status = superlink.status(run_id)
        if status.finished:
            break
        time.sleep(0.2)
    assert status is not None
    if deadline is not None and time.monotonic() > deadline and not status.succeeded:
        return RunStatus(run_id, status.status, f"gave up after {timeout:.0f} s; {status.details}".strip())
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


def status_ok(status: str, output: Path) -> bool:
    """Whether the run completed with results; otherwise explain where to look."""
    if status.startswith("finished:completed") and (output / RESULTS_FILE).exists():
        return True
    log = output / "flower.log"
    tail = log.read_text(errors="replace")[-2500:] if log.exists() else ""
    print(f"error: the Flower run ended as {status!r} without results.\n{tail}", file=sys.stderr)
    return False


def finish_results(output: Path, wall_seconds: float) -> dict[str, Any]:
    """Add the command's wall time and its overhead ratio to results.json; return the document."""
    path = output / RESULTS_FILE
    results = json.loads(path.read_text())
    timings = [entry["timings"] for entry in results["strategies"].values()]
    work = sum(t["client_training_seconds"] + t["aggregation_seconds"] for t in timings)
    results["timings"] = {
        "total_wall_seconds": wall_seconds,
        "client_training_seconds": sum(t["client_training_seconds"] for t in timings),
        "aggregation_seconds": sum(t["aggregation_seconds"] for t in timings),
        "overhead_ratio": wall_seconds / work if work > 0 else None,
    }
    path.write_text(json.dumps(results, indent=2))
    return results


def report_results(status: RunStatus, output: Path, wall_seconds: float) -> int:
    """Print the comparison table of a finished run (after adding its wall time); the exit code."""
    if not status_ok(f"{status.status} {status.details}".strip(), output):
        return 1
    results = finish_results(output, wall_seconds)
    reports = [StrategyReport.from_dict(entry) for entry in results["strategies"].values()]
    print("\n" + format_table(reports))
    print(f"\nwall time {wall_seconds:.1f} s · results in {output}")
    return 0 if not any(report.error for report in reports) else 1
