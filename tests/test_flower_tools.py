"""Flower's executables come from beside the running interpreter, whatever PATH says."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from fedot.flower.tools import FlowerNotInstalled, flower_env, flower_tool


def test_flower_executables_are_this_interpreters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    for name in ("flwr", "flower-superlink", "flower-supernode", "flower-superexec"):
        assert flower_tool(name) == str(Path(sys.executable).parent / name)
    path = flower_env({"FLWR_HOME": "/x"})["PATH"].split(os.pathsep)
    assert path[0] == str(Path(sys.executable).parent) and path[-1] == "/nonexistent"


def test_a_missing_executable_names_itself_and_how_to_install_it() -> None:
    with pytest.raises(FlowerNotInstalled, match=r"`flower-nonesuch` is not installed beside this Python") as error:
        flower_tool("flower-nonesuch")
    assert f"{sys.executable} -m pip install" in str(error.value)
