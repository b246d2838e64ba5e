"""Read the idx files that MNIST and Fashion-MNIST ship as (gzipped or not)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""The four standard file names (each may also carry a ``.gz`` suffix)."""

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: Path) -> np.ndarray:
    """Return the uint8 array stored in an idx file; gzip is detected from the content."""
    raw = Path(path).read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        raw = gzip.decompress(raw)
    zero, dtype_code, ndim = raw[0] * 256 + raw[1], raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes (header {raw[:4].hex()})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {data.size} bytes")
    return data.reshape(shape)


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """The four idx files in ``folder`` (plain preferred over ``.gz``), or None if any is missing."""
    found = {}
    for key, stem in IDX_FILES.items():
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def read_idx_splits(files: dict[str, Path]) -> dict[str, torch.Tensor]:
    """Read the four files into N×1×H×W uint8 images and int64 labels, keyed like ``IDX_FILES``."""
    arrays = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.shape != images.shape[:1]:
            raise ValueError(
                f"{files[f'{split}_images'].parent}: {split} images {images.shape} "
                f"do not match labels {labels.shape}"
            )
    return {
        key: torch.from_numpy(array.copy()).unsqueeze(1)
        if key.endswith("images")
        else torch.from_numpy(array.astype(np.int64))
        for key, array in arrays.items()
    }
