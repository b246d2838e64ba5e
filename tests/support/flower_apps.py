"""Temporary Flower Apps for tests: fedot's ServerApp with a chosen ClientApp."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from fedot.flower.toml import toml_literal

ROOT = Path(__file__).resolve().parents[2]


def app_with_client(folder: Path, clientapp: str) -> Path:
    """A Flower App in ``folder`` whose ClientApp is ``faulty_clients:<clientapp>``; returns the folder.

    The ServerApp and the run-config defaults are the project's own, so every
    fedot setting works; fedot itself is imported from the installed package.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    defaults = project["tool"]["flwr"]["app"]["config"]
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("faulty_clients.py"), folder / "faulty_clients.py")
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "fedot-faulty"\nversion = "0.1.0"\n\n'
        '[tool.flwr.app]\npublisher = "fedot"\n\n'
        '[tool.flwr.app.components]\nserverapp = "strategies.server_app:app"\n'
        f'clientapp = "faulty_clients:{clientapp}"\n\n'
        "[tool.flwr.app.config]\n" + "".join(f"{k} = {toml_literal(v)}\n" for k, v in defaults.items())
    )
    return folder
