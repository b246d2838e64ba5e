"""scikit-learn's bundled 8×8 digits: the data set that works offline on any machine."""

from __future__ import annotations

import numpy as np
import torch

from fedot.data.dataset import ImageDataset, build_image_dataset

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def load_digits() -> ImageDataset:
    """The 1,797 digits, split 1,437 train / 360 test, stratified by class, the same split every time.

    Pixels (0–16 in scikit-learn) are rescaled to uint8 0–255.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels
    )
    return build_image_dataset(
        "digits",
        torch.from_numpy(train_x),
        torch.from_numpy(train_y),
        torch.from_numpy(test_x),
        torch.from_numpy(test_y),
        classes=[str(c) for c in bunch.target_names],
    )
