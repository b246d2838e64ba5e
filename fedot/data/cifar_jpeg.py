"""Decode the packed JPEG copy of CIFAR-10 (``cifar10-jpeg.npz``) into uint8 tensors.

Layout of the file: ``jpeg_header`` holds the bytes every image file starts with;
image i of a split is ``jpeg_header + {split}_bytes[offsets[i]:offsets[i + 1]]``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

NPZ_NAME = "cifar10-jpeg.npz"


def decode_split(archive: np.lib.npyio.NpzFile, split: str, limit: int | None = None) -> torch.Tensor:
    """Decode the first ``limit`` (default: all) images of ``split`` to N×3×32×32 uint8."""
    header = archive["jpeg_header"].tobytes()
    payload = archive[f"{split}_bytes"].tobytes()
    offsets = archive[f"{split}_offsets"].tolist()
    count = len(offsets) - 1 if limit is None else min(limit, len(offsets) - 1)
    images = np.empty((count, 32, 32, 3), dtype=np.uint8)
    for i in range(count):
        with Image.open(io.BytesIO(header + payload[offsets[i] : offsets[i + 1]])) as image:
            images[i] = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def read_cifar10_jpeg(path: Path, limit: int | None = None) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Read both splits (the first ``limit`` images of each, if given) and the class names.

    Returns tensors keyed ``train_images``, ``train_labels``, ``test_images``, ``test_labels``.
    """
    with np.load(path) as archive:
        tensors = {}
        for split in ("train", "test"):
            images = decode_split(archive, split, limit)
            labels = torch.from_numpy(archive[f"{split}_labels"][: len(images)].astype(np.int64))
            tensors[f"{split}_images"], tensors[f"{split}_labels"] = images, labels
        classes = [str(c) for c in archive["classes"]]
    return tensors, classes
