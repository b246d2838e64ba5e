"""Find processes a test started, to prove it stopped every one of them."""

from __future__ import annotations

import os
import time
from pathlib import Path


def leftover_processes(prefix: Path, wait: float = 0.0) -> list[str]:
    """Live processes whose FLWR_HOME or RAY_TMPDIR, cwd or an open file lies under ``prefix``.

    With ``wait`` > 0, polls that long for them to go (Flower's executors exit
    a moment after their parent). Returns ``"pid command"`` per process.
    """
    deadline = time.monotonic() + wait
    while True:
        found = _scan(str(prefix))
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


def _scan(prefix: str) -> list[str]:
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me or not _alive(entry):
            continue
        if _env_under(entry, prefix) or _files_under(entry, prefix):
            found.append(f"{entry} {_command(entry)}")
    return found


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


def _files_under(pid: str, prefix: str) -> bool:
    try:
        links = [os.readlink(f"/proc/{pid}/cwd")]
        links += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(_under(link, prefix) for link in links)


def _alive(pid: str) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rsplit(b") ", 1)[-1][:1] != b"Z"


def _command(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:100].decode(errors="replace")
    except OSError:
        return "?"
