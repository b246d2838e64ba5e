"""Where a torchvision data set can come from: a copy under ``data_dir``, or a download.

A ``Source`` is a usable copy that was found; ``find_source`` looks for one in the
layouts users have (bare idx files, torchvision's folders, the packed JPEG CIFAR-10),
``download`` fetches torchvision's layout with a short socket timeout so an offline
machine fails in seconds instead of hanging.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from fedot.data.cifar_jpeg import NPZ_NAME, read_cifar10_jpeg
from fedot.data.idx import IDX_FILES, find_idx_files, read_idx_splits

Tensors = dict[str, torch.Tensor]
Reader = Callable[[], tuple[Tensors, list[str]]]

DOWNLOAD_TIMEOUT_S = 10.0
"""Socket timeout during a download attempt: how long a silent server may stall us."""


@dataclass(frozen=True)
class Family:
    """What distinguishes one torchvision data set from another, for fedot."""

    torchvision_class: str
    idx_format: bool
    augment: bool

    def dataset_class(self) -> type:
        """torchvision's class for this data set (imported on first use: torchvision loads slowly)."""
        import torchvision.datasets

        return getattr(torchvision.datasets, self.torchvision_class)


FAMILIES: dict[str, Family] = {
    "mnist": Family("MNIST", idx_format=True, augment=False),
    "fashion-mnist": Family("FashionMNIST", idx_format=True, augment=False),
    "cifar10": Family("CIFAR10", idx_format=False, augment=True),
    "cifar100": Family("CIFAR100", idx_format=False, augment=True),
}


@dataclass(frozen=True)
class Source:
    """A usable copy of a data set: its files, the data folder holding them, and how to decode it."""

    kind: str
    folder: Path
    files: tuple[Path, ...]
    read: Reader

    def fingerprint(self) -> str:
        """A digest that changes when the files move or change (path, size, mtime)."""
        parts = [self.kind]
        for path in sorted(self.files):
            stat = path.stat()
            parts.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
        return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def find_source(name: str, data_dir: Path) -> Source | None:
    """The first usable copy of ``name`` at ``data_dir``, or None.

    Looked for, in order: the four idx files directly in ``data_dir`` or in
    torchvision's ``<Class>/raw/`` (MNIST family); torchvision's extracted python
    batches (CIFAR); ``cifar10-jpeg.npz`` in ``data_dir`` or ``data_dir`` itself (CIFAR-10).
    """
    family = FAMILIES[name]
    if data_dir.is_file():
        if name == "cifar10" and data_dir.suffix == ".npz":
            return _jpeg_npz_source(data_dir)
        return None
    if family.idx_format:
        for folder in (data_dir, data_dir / family.torchvision_class / "raw"):
            files = find_idx_files(folder)
            if files is not None:
                return Source(
                    "idx", data_dir, tuple(files.values()),
                    lambda files=files: (read_idx_splits(files), list(family.dataset_class().classes)),
                )
        return None
    dataset_class = family.dataset_class()
    batches = data_dir / dataset_class.base_folder
    if batches.is_dir():
        return Source(
            "torchvision", data_dir, tuple(p for p in batches.iterdir() if p.is_file()),
            lambda: _read_torchvision_cifar(dataset_class, data_dir),
        )
    if name == "cifar10" and (data_dir / NPZ_NAME).is_file():
        return _jpeg_npz_source(data_dir / NPZ_NAME)
    return None


def _jpeg_npz_source(path: Path) -> Source:
    return Source("jpeg-npz", path.parent, (path,), lambda: read_cifar10_jpeg(path))


def _read_torchvision_cifar(dataset_class: type, root: Path) -> tuple[Tensors, list[str]]:
    tensors: Tensors = {}
    for split in ("train", "test"):
        dataset = dataset_class(str(root), train=split == "train", download=False)
        tensors[f"{split}_images"] = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
        tensors[f"{split}_labels"] = torch.tensor(dataset.targets, dtype=torch.int64)
    return tensors, list(dataset.classes)


def download(name: str, data_dir: Path, timeout_s: float | None = None) -> None:
    """Download ``name`` into ``data_dir`` in torchvision's layout.

    Raises ``OSError`` or ``RuntimeError`` (as torchvision does) when it fails; no
    single network operation waits longer than ``timeout_s`` (default ``DOWNLOAD_TIMEOUT_S``).
    """
    dataset_class = FAMILIES[name].dataset_class()
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S if timeout_s is None else timeout_s)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            dataset_class(str(data_dir), train=train, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def expected_files(name: str, data_dir: Path) -> str:
    """A human description of the copies ``find_source`` accepts, for error messages."""
    family = FAMILIES[name]
    if family.idx_format:
        stems = ", ".join(IDX_FILES.values())
        return (
            f"  - the four idx files ({stems}; gzipped or not) directly in {data_dir} "
            f"or in {data_dir / family.torchvision_class / 'raw'}"
        )
    dataset_class = family.dataset_class()
    lines = [
        f"  - torchvision's layout: {data_dir / dataset_class.base_folder}/ "
        f"(the python version, {dataset_class.filename}, unpacked there)"
    ]
    if name == "cifar10":
        lines.append(f"  - the packed JPEG copy {data_dir / NPZ_NAME} (or pass the .npz path as data_dir)")
    return "\n".join(lines)
