"""What the offline experiments (``simulations/`` and ``benchmarks/``) share.

The machine line every report names its numbers by, where the offline data sets are, the
set-up of a worker process, and fusion on the models' device with a CPU retry — so that
neither folder imports the other.
"""

from __future__ import annotations

import copy
import logging
import os
import platform
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
"""The checkout the experiments run from."""


def shared_data_dir() -> Path:
    """``$FEDOT_SHARED_DATA``, else ``../shared/data`` next to the repository."""
    return Path(os.environ.get("FEDOT_SHARED_DATA", REPO.parent / "shared" / "data"))


def machine() -> str:
    """One line naming the hardware the numbers came from."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"


def single_threaded_worker() -> None:
    """Set-up of a worker process: one thread (experiments run side by side on a shared machine),
    Flower's strategy warnings off."""
    torch.set_num_threads(1)
    logging.getLogger("flwr").setLevel(logging.ERROR)


def fuse_on_device_or_cpu(
    fuse_fn: Callable[[list[nn.Module], list[torch.Tensor] | None], nn.Module],
    models: list[nn.Module],
    inputs: Sequence[torch.Tensor] | None,
) -> tuple[nn.Module, dict[str, Any]]:
    """``fuse_fn(models, inputs)``; if that fails on a GPU, the same on CPU copies, the error recorded.

    A benchmark run on a lent GPU is a single shot: one device bug in one variant must not cost every
    other number. The failure is printed and returned (``fused_on_cpu_after``) so it gets fixed, not hidden.
    """
    try:
        return fuse_fn(models, list(inputs) if inputs else None), {}
    except Exception as error:  # noqa: BLE001 - re-raised below when there is no GPU to blame
        device = next(models[0].parameters()).device
        if device.type == "cpu":
            raise
        print(f"fusion failed on {device}, retrying on the CPU: {error!r}", flush=True)
        traceback.print_exc()
        cpu_inputs = [batch.cpu() for batch in inputs] if inputs else None
        fused = fuse_fn([copy.deepcopy(model).cpu() for model in models], cpu_inputs)
        return fused.to(device), {"fused_on_cpu_after": repr(error)}
