"""Local processes: a free port, a process group started with its log, stopped, and swept by its home.

Flower's processes start more processes (SuperExecs, ServerApps, ClientApps,
Ray's workers). Each one fedot starts leads its own process group, and every
process that belongs to a Flower home — by its ``FLWR_HOME`` (or ``RAY_TMPDIR``)
at or below it, or a file it keeps open below it — can be found in ``/proc``
and stopped, even once it has been re-parented to init.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_logged(command: Sequence[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` as the leader of a new process group, its output going to ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            list(command), env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group that ``process`` leads; SIGKILL it after ``grace`` seconds."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def kill_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group that ``process`` leads, at once (fault injection)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def processes_under(home: Path) -> dict[int, str]:
    """Live processes of the Flower home ``home``: ``FLWR_HOME`` or ``RAY_TMPDIR`` at or below it, or a file open in it.

    Returns ``pid → command line``; never this process or its ancestors.
    """
    prefix = str(home)
    spared = _ancestors(os.getpid()) | {os.getpid()}
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in spared or not _alive(int(entry)):
            continue
        if _env_under(entry, prefix) or _uses_path(entry, prefix):
            found[int(entry)] = _command_line(entry)
    return found


def sweep_processes(home: Path, grace: float = 3.0) -> list[str]:
    """Stop every process of the Flower home ``home`` (``processes_under``): SIGTERM, then SIGKILL after ``grace``.

    Flower's simulation leaves Ray workers and agents behind when a run or its
    SuperLink is stopped early; they are re-parented to init, ignore SIGTERM
    and some rewrite their environment, but they keep their session files
    (under ``RAY_TMPDIR``, inside ``home``) open. Returns ``"pid command"`` per
    process found.
    """
    found = processes_under(home)
    for pid in found:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in found):
        time.sleep(0.1)
    for pid in found:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    return [f"{pid} {command}" for pid, command in found.items()]


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _env_under(pid: str, prefix: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    for item in environ:
        name, _, value = item.decode(errors="replace").partition("=")
        if name in ("FLWR_HOME", "RAY_TMPDIR") and _under(value, prefix):
            return True
    return False


def _uses_path(pid: str, prefix: str) -> bool:
    try:
        links = [os.readlink(f"/proc/{pid}/cwd")]
        links += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(_under(link, prefix) for link in links)


def _command_line(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:80].decode(
            errors="replace"
        ).strip()
    except OSError:
        return "?"


def _ancestors(pid: int) -> set[int]:
    found: set[int] = set()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
            pid = int(stat.rsplit(b") ", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        found.add(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rsplit(b") ", 1)[-1][:1] != b"Z"


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
