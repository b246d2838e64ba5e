"""SIGTERM, SIGHUP and SIGKILL to fedot's commands: everything they started stops and their private homes go.

`kill`, `timeout`, CI and docker send SIGTERM; a closed terminal sends SIGHUP;
SIGKILL (or a crash) cannot be caught at all. Each command runs as a subprocess
whose temporary files go to a folder of the test's own (``TMPDIR``), so every
process it started can be found there afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.flower_apps import ROOT
from tests.support.processes import leftover_processes

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A short folder under /tmp (Ray's socket paths below it must fit in 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="fs-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def launch(args: list[str], scratch: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``python -m <args>`` with its temporary files in ``scratch``; returns the process and its output file."""
    log = scratch / "output.txt"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", *args], env={**ENV, "TMPDIR": str(scratch / "tmp")},
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    (scratch / "tmp").mkdir(exist_ok=True)
    return process, log


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)


def assert_all_gone(scratch: Path, log: Path) -> None:
    """No process of the command is left, and its private homes are removed (a watchdog may still be at it)."""
    assert leftover_processes(scratch, wait=20) == [], log.read_text()[-3000:]
    wait_for(lambda: not any((scratch / "tmp").iterdir()), 20, "removing the private homes", log)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stopped_simulation_leaves_nothing_behind(stop: signal.Signals, scratch: Path) -> None:
    """Stopped mid-round, with the SuperLink, its SuperExec, the ServerApp and Ray's workers all running."""
    output = scratch / "out"
    process, log = launch(["fedot.simulate", "--clients", "2", "--local-epochs", "200", "--strategy", "fedavg",
                           "--output-dir", str(output)], scratch)
    events = output / "events.jsonl"
    wait_for(lambda: events.exists() and '"event": "round"' in events.read_text(), 180, "the first round", log)
    os.kill(process.pid, stop)
    stopped = time.monotonic()
    code = process.wait(60)
    if stop == signal.SIGTERM:
        assert code == 128 + signal.SIGTERM, log.read_text()[-3000:]
        assert time.monotonic() - stopped < 30
        assert "stopped by SIGTERM" in log.read_text()
    assert_all_gone(scratch, log)
    assert not (output / "results.json").exists()  # the federation did not carry on


def test_a_serving_local_deployment_stops_on_sighup(scratch: Path) -> None:
    """`fedot.deploy local --serve` with SuperLink, SuperExec, Fleet proxy and SuperNodes up; the terminal closes."""
    process, log = launch(["fedot.deploy", "local", "--clients", "2", "--insecure", "--serve", "--node-wait", "90"],
                          scratch)
    wait_for(lambda: "The federation is up" in log.read_text(), 150, "the federation coming up", log)
    os.kill(process.pid, signal.SIGHUP)
    stopped = time.monotonic()
    assert process.wait(60) == 0, log.read_text()[-3000:]  # --serve runs until it is stopped
    assert time.monotonic() - stopped < 30
    assert_all_gone(scratch, log)


def test_the_watchdog_empties_and_removes_a_home_whose_owner_was_killed(scratch: Path) -> None:
    owner = (
        "import os, subprocess, sys\n"
        "from fedot.flower.lifetime import TemporaryHome\n"
        "home = TemporaryHome('fedot-test-')\n"
        "subprocess.Popen(['sleep', '300'], env={**os.environ, 'FLWR_HOME': str(home.path / 'node-0')},"
        " start_new_session=True)\n"
        "print(home.path, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    result = subprocess.run([sys.executable, "-c", owner], env={**ENV, "TMPDIR": str(scratch)}, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == -signal.SIGKILL, result.stderr
    home = Path(result.stdout.strip())
    assert home.parent == scratch
    deadline = time.monotonic() + 20
    while (home.exists() or leftover_processes(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftover_processes(home) == [] and not home.exists()
