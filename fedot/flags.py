"""Command-line flags made from settings: one flag per setting, its type, choices and default from the setting.

Shared by ``python -m fedot.simulate`` (every ``RunConfig`` setting) and ``python -m
fedot.fuse`` (every ``Recipe`` option), so a setting added to either appears as a flag
with no further code. Flags default to None: "not given", so a TOML file or a recipe
underneath keeps its value.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_flag(
    parser: argparse.ArgumentParser,
    key: str,
    default: Any,
    help: str,  # noqa: A002  (argparse's word)
    choices: tuple[str, ...] | None = None,
    kind: Callable[[str], Any] | None = None,
) -> None:
    """Add ``--<key>``: a ``--x/--no-x`` pair for booleans, else a value of ``default``'s type (or ``kind``)."""
    flag = "--" + key
    if isinstance(default, bool):
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"{help} (default: {default})")
        return
    parser.add_argument(
        flag, type=kind or type(default), choices=None if kind else choices, default=None,
        help=f"{help} (default: {default!r})",
    )  # fmt: skip


def given(args: argparse.Namespace, keys: list[str]) -> dict[str, Any]:
    """The flags of ``keys`` that were given on the command line, by key."""
    return {key: value for key in keys if (value := getattr(args, key.replace("-", "_"))) is not None}
