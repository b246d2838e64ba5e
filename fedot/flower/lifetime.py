"""Ending cleanly however fedot ends: stop signals unwind like Ctrl-C, and a watchdog outlives abrupt deaths.

SIGINT unwinds Python (``KeyboardInterrupt``) through every ``with`` block that
stops what it started. SIGTERM (what ``kill``, ``timeout``, CI and docker send)
and SIGHUP (a closed terminal) end Python at once by default, leaving the
SuperLink, its run and Ray behind: inside ``stop_signals()`` they raise
``Stopped``, a ``KeyboardInterrupt``, and unwind the same way. SIGKILL or a crash
cannot be caught, so every temporary Flower home fedot makes is a
``TemporaryHome``: a watchdog process in a session of its own (no terminal's or
process group's signals reach it) waits on a pipe from its owner, which closes
however the owner ends, then stops every process of the home
(``processes_under``) and removes it. Unlike ``PR_SET_PDEATHSIG`` on each child,
this also reaches what Flower's children start and re-parent (Ray's workers),
and removes the folder.

    python -m fedot.flower.lifetime HOME    # the watchdog itself (stdin: the owner's pipe)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from fedot.flower.processes import sweep_processes

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived (SIGTERM, SIGHUP); unwinds like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stop_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise ``Stopped`` in the main thread, as SIGINT raises KeyboardInterrupt."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_stoppably(main: Callable[[], int]) -> int:
    """``main()``, with SIGTERM and SIGHUP stopping it as Ctrl-C does; a stop exits 128 + the signal's number."""
    with stop_signals():
        try:
            return main()
        except KeyboardInterrupt as stop:
            signum = stop.signum if isinstance(stop, Stopped) else signal.SIGINT
            print(f"fedot: stopped by {signal.Signals(signum).name}; everything it started is stopped", file=sys.stderr)
            return 128 + signum


class TemporaryHome:
    """A temporary folder for Flower processes that is emptied of processes and removed however this process ends.

    ``remove()`` does it now (and dismisses the watchdog); if this process dies
    first, the watchdog does it.
    """

    def __init__(self, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        read, self._pipe = os.pipe()
        env = {k: v for k, v in os.environ.items() if k not in ("FLWR_HOME", "RAY_TMPDIR", "RAY_ADDRESS")}
        try:
            self._watchdog: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", "fedot.flower.lifetime", str(self.path)],
                stdin=read, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
                env={**env, "PYTHONPATH": _import_path(env)}, start_new_session=True,
            )
        finally:
            os.close(read)

    def remove(self) -> list[str]:
        """Stop every process of the home, remove it, dismiss the watchdog; name what was stopped."""
        swept = sweep_processes(self.path)
        shutil.rmtree(self.path, ignore_errors=True)
        if self._watchdog is not None:
            os.close(self._pipe)
            self._watchdog.wait(30)
            self._watchdog = None
        return swept


def given_or_temporary(home: Path | None, prefix: str) -> tuple[Path, TemporaryHome | None]:
    """``home`` as given (the caller's to clean), or a new ``TemporaryHome`` and its path."""
    if home is not None:
        return Path(home), None
    temporary = TemporaryHome(prefix)
    return temporary.path, temporary


def _import_path(env: dict[str, str]) -> str:
    """``PYTHONPATH`` under which the watchdog imports this very fedot (a source checkout or the installed one)."""
    here = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join([here, env["PYTHONPATH"]]) if env.get("PYTHONPATH") else here


def _watch(home: Path) -> None:
    """Wait until the owner's pipe closes (stdin: EOF), then stop the home's processes and remove it."""
    while sys.stdin.buffer.read(1 << 16):
        pass
    sweep_processes(home)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    _watch(Path(sys.argv[1]))
