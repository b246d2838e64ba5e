"""Shared bits of the benchmark scripts: where the offline data is, and how to print a result."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$FEDOT_SHARED_DATA``, else ``../shared/data`` next to the repository."""
    return Path(os.environ.get("FEDOT_SHARED_DATA", REPO.parent / "shared" / "data"))


def machine() -> str:
    """One line naming the hardware the numbers came from."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"
