"""The Flower executables of the running interpreter, and the environment of every Flower process fedot starts.

``some-venv/bin/python -m fedot.simulate`` must work without an activated venv
(IDEs, cron, ``conda run``, CI): ``flower-superlink``, ``flower-supernode`` and
``flwr`` are taken from beside this interpreter (or from wherever this
interpreter's Flower installed them, e.g. ``pip install --user``), never from
whatever ``PATH`` finds first, and that folder goes first on the ``PATH`` of
every Flower process, because Flower starts its own helpers (``flower-superexec``,
``flwr-serverapp``, ``flwr-clientapp``, ``flwr-simulation``) by name.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path

QUIET_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}
"""No outbound calls from Flower: federations must work without internet."""


class FlowerNotInstalled(RuntimeError):
    """A Flower executable is missing from the running interpreter's environment."""


def flower_tool(name: str) -> str:
    """The path of Flower's executable ``name`` (``flwr``, ``flower-superlink``, …) for this interpreter."""
    for folder in _tool_folders():
        path = folder / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise FlowerNotInstalled(
        f"`{name}` is not installed beside this Python ({sys.executable}): install Flower into this "
        f"environment, `{sys.executable} -m pip install -e .` in the fedot folder "
        f"(or `{sys.executable} -m pip install 'flwr[simulation]==1.42.*'`)"
    )


def flower_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, quietened for Flower, its Flower executables first on ``PATH``, plus ``extra``."""
    path = os.pathsep.join([*(str(folder) for folder in _tool_folders()), os.environ.get("PATH", "")])
    return {**os.environ, **QUIET_ENV, "PATH": path.rstrip(os.pathsep), **(extra or {})}


@cache
def _tool_folders() -> tuple[Path, ...]:
    """Beside the interpreter first (a venv's ``bin``, unresolved), then where Flower's own scripts went
    (``pip install --user``; ``pip install --target DIR``, whose record of script paths is wrong, puts them in ``DIR/bin``)."""
    folders = [Path(sys.executable).parent]
    try:
        flwr = importlib.metadata.distribution("flwr")
    except importlib.metadata.PackageNotFoundError:
        return tuple(folders)
    for script in flwr.files or ():
        folder = Path(str(flwr.locate_file(script))).resolve().parent
        if script.name == "flwr" and folder not in folders:
            folders.append(folder)
    target_bin = Path(str(flwr.locate_file(""))).resolve() / "bin"  # `pip install --target DIR` puts scripts in DIR/bin
    if target_bin not in folders:
        folders.append(target_bin)
    return tuple(folders)
