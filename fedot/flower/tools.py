"""The environment of every Flower process fedot starts."""

from __future__ import annotations

import os
from collections.abc import Mapping

QUIET_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}
"""No outbound calls from Flower: federations must work without internet."""


def flower_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, quietened for Flower, plus ``extra``."""
    return {**os.environ, **QUIET_ENV, **(extra or {})}
