"""``load_dataset``: one call from a data set's name to tensors, offline when it can be."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fedot.data import cache, sources
from fedot.data.dataset import ImageDataset, build_image_dataset
from fedot.data.digits import load_digits

DATASETS: tuple[str, ...] = ("digits", *sources.FAMILIES)
"""Valid names for ``load_dataset``; ``digits`` needs no files at all."""

log = logging.getLogger(__name__)


class DatasetUnavailableError(FileNotFoundError):
    """No usable copy of a data set was found and none could be downloaded."""


def default_data_dir() -> Path:
    """``$FEDOT_DATA_DIR``, else ``<user cache folder>/data``: where downloads go by default."""
    if os.environ.get("FEDOT_DATA_DIR"):
        return Path(os.environ["FEDOT_DATA_DIR"])
    return cache.user_cache_dir() / "data"


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    cache_dir: str | Path | None = None,
) -> ImageDataset:
    """Load a data set by name (see ``DATASETS``) as uint8 tensors on the CPU.

    ``data_dir`` (default ``default_data_dir()``) may hold a copy in any layout that
    ``fedot.data.sources.find_source`` accepts; if none is there and ``download`` is
    true, torchvision downloads one into it. The decoded tensors are cached (see
    ``fedot.data.cache``; ``cache_dir`` overrides the user cache folder), so later
    calls skip decoding. Raises ``DatasetUnavailableError`` naming the expected
    files when there is no copy and no download succeeds, ``ValueError`` for an
    unknown name.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)}")
    if name == "digits":
        return load_digits()
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    source = sources.find_source(name, root)
    if source is None:
        source = _download_or_explain(name, root, download)
    candidates = cache.cache_candidates(
        source.folder,
        Path(cache_dir).expanduser() if cache_dir is not None else cache.user_cache_dir(),
        name,
        source.fingerprint(),
    )
    dataset = cache.load_cached(candidates)
    if dataset is not None:
        return dataset
    log.info("decoding %s from %s (%s); cached for later runs", name, source.folder, source.kind)
    tensors, classes = source.read()
    dataset = build_image_dataset(name, **tensors, classes=classes, augment=sources.FAMILIES[name].augment)
    if cache.save_cached(dataset, candidates) is None:
        log.warning("could not write a cache for %s to any of %s", name, [str(p.parent) for p in candidates])
    return dataset


def _download_or_explain(name: str, root: Path, download: bool) -> sources.Source:
    """Download ``name`` into ``root`` and return the copy, or raise a message saying what to put where."""
    reason = "downloading is switched off (download=False)"
    if download:
        try:
            sources.download(name, root)
        except (OSError, RuntimeError) as error:
            detail = " ".join(str(error).split())
            detail = detail if len(detail) <= 300 else detail[:297] + "..."
            reason = f"the download failed ({type(error).__name__}: {detail})"
        else:
            found = sources.find_source(name, root)
            if found is not None:
                return found
            reason = "the download finished but left no readable copy"
    raise DatasetUnavailableError(
        f"no copy of {name!r} in {root}, and {reason}.\n"
        f"Put one of these there (or pass the folder holding it as data_dir):\n"
        f"{sources.expected_files(name, root)}"
    )
