"""Load and save state dicts without unpickling arbitrary objects.

``.safetensors`` files go through ``safetensors.torch``; anything else through ``torch.load``
with ``weights_only=True`` (and ``torch.save``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors stored at ``path``; raises ``ValueError`` for a missing or malformed file."""
    state = _read(Path(path))
    if not isinstance(state, Mapping) or not all(
        isinstance(name, str) and isinstance(tensor, Tensor) for name, tensor in state.items()
    ):
        raise ValueError(f"{path}: expected a state dict (a mapping of names to tensors)")
    return dict(state)


def load_tensor(path: str | Path, name: str = "inputs") -> Tensor:
    """One tensor stored at ``path``: a bare tensor, the entry ``name``, or the only entry."""
    stored = _read(Path(path))
    if isinstance(stored, Tensor):
        return stored
    if isinstance(stored, Mapping) and isinstance(stored.get(name), Tensor):
        return stored[name]
    if isinstance(stored, Mapping) and len(stored) == 1 and isinstance(next(iter(stored.values())), Tensor):
        return next(iter(stored.values()))
    raise ValueError(f"{path}: expected one tensor, or a file with a tensor named {name!r}")


def _read(path: Path) -> object:
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path}: not a readable tensor file ({error})") from error


def save_state_dict(state: Mapping[str, Tensor], path: str | Path) -> None:
    """Write ``state`` to ``path``: safetensors for ``.safetensors``, otherwise ``torch.save``."""
    path = Path(path)
    tensors = {name: tensor.detach().contiguous().clone() for name, tensor in state.items()}
    if path.suffix == ".safetensors":
        save_file(tensors, str(path))
    else:
        torch.save(tensors, path)
