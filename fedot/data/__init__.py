"""Data sets as uint8 tensors: loading (offline first), caching, normalising, batching.

Partitioning across clients lives in ``fedot.data.partition`` (it imports
flwr-datasets, which is slow to import, so it is not pulled in here).
"""

from fedot.data.augment import random_crop_flip
from fedot.data.batches import normalized_batches, shuffled_batches
from fedot.data.catalog import DATASETS, DatasetUnavailableError, default_data_dir, load_dataset
from fedot.data.dataset import ImageDataset, Split, normalize

__all__ = [
    "DATASETS",
    "DatasetUnavailableError",
    "ImageDataset",
    "Split",
    "default_data_dir",
    "load_dataset",
    "normalize",
    "normalized_batches",
    "random_crop_flip",
    "shuffled_batches",
]
