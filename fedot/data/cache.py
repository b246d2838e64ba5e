"""A decoded copy of each data set, so the second run starts in seconds.

The cache is a ``torch.save`` file of uint8 tensors named after the data set and
the fingerprint of its source files: a changed or moved source gets a new file.
It goes next to the data (``<data_dir>/.fedot-cache/``) when that folder is
writable, else into the user cache folder (``$FEDOT_CACHE_DIR``, or
``$XDG_CACHE_HOME/fedot``, or ``~/.cache/fedot``). Writes are atomic, so clients
decoding at the same time never read a half-written file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import fields
from pathlib import Path

import torch

from fedot.data.dataset import ImageDataset

CACHE_FOLDER = ".fedot-cache"


def user_cache_dir() -> Path:
    """The configured user cache folder (``$FEDOT_CACHE_DIR`` wins)."""
    if os.environ.get("FEDOT_CACHE_DIR"):
        return Path(os.environ["FEDOT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fedot"


def cache_candidates(data_folder: Path, cache_dir: Path, name: str, fingerprint: str) -> list[Path]:
    """Where a cache file may be, in order of preference: next to the data, then the user cache."""
    filename = f"{name}-{fingerprint}.pt"
    return [data_folder / CACHE_FOLDER / filename, cache_dir / filename]


def load_cached(candidates: list[Path]) -> ImageDataset | None:
    """The first readable cached data set among ``candidates``, or None."""
    for path in candidates:
        if path.is_file():
            try:
                payload = torch.load(path, weights_only=True)
                return ImageDataset(**{**payload, "classes": tuple(payload["classes"]),
                                       "mean": tuple(payload["mean"]), "std": tuple(payload["std"])})
            except (OSError, RuntimeError, KeyError, TypeError, ValueError):
                continue  # unreadable or from an older layout: decode again
    return None


def save_cached(dataset: ImageDataset, candidates: list[Path]) -> Path | None:
    """Write ``dataset`` to the first candidate whose folder accepts it; returns the path or None.

    A folder without write bits counts as read-only even for root, so shared,
    read-only data folders stay untouched.
    """
    payload = {field.name: getattr(dataset, field.name) for field in fields(dataset)}
    payload.update(classes=list(dataset.classes), mean=list(dataset.mean), std=list(dataset.std))
    for path in candidates:
        if not _writable(path.parent):
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_save(payload, path)
            return path
        except OSError:
            continue
    return None


def _atomic_save(payload: dict, path: Path) -> None:
    """Save to a temporary file in the same folder, then rename it into place."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            torch.save(payload, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _writable(folder: Path) -> bool:
    """Whether we may create ``folder`` (or files in it): its nearest existing ancestor has write bits."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            return False
        existing = existing.parent
    mode = existing.stat().st_mode
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(existing, os.W_OK)
