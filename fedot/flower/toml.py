"""Flower's run and node configs as TOML: a file of settings, or ``--node-config``'s one line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

ConfigValue = bool | int | float | str


def toml_literal(value: ConfigValue) -> str:
    """``value`` as a TOML literal (Flower's run and node configs are TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # JSON string escapes are valid TOML basic-string escapes


def write_toml(path: Path, values: Mapping[str, ConfigValue]) -> Path:
    """Write a flat mapping of scalars as a TOML file; return its path."""
    path.write_text("".join(f"{json.dumps(k)} = {toml_literal(v)}\n" for k, v in values.items()))
    return path


def config_string(values: Mapping[str, ConfigValue]) -> str:
    """``{"a": 1, "b": "x"}`` → ``a=1 b="x"``, the form of ``--node-config``."""
    for key, value in values.items():
        if isinstance(value, str) and ('"' in value or "'" in value):
            raise ValueError(f"config value for {key!r} may not contain quotes: {value!r}")
    return " ".join(f"{k}={toml_literal(v)}" for k, v in values.items())
