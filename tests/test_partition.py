"""Partition invariants: disjoint, complete, sized as promised, skewed as asked, seeded, and loud on bad input."""

import warnings

import numpy as np
import pytest

from fedot.data.partition import (
    PARTITION_SCHEMES,
    PartitionConfig,
    dirichlet_partition,
    iid_partition,
    make_partitions,
    pathological_partition,
    quantity_skew_partition,
    shard_partition,
    specialist_partition,
)
from fedot.data.partition_report import format_label_histogram, label_histogram, label_skew, plot_label_histogram

NUM_CLASSES = 10


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    rng = np.random.default_rng(123)
    return rng.permutation(np.repeat(np.arange(NUM_CLASSES), rng.integers(150, 250, NUM_CLASSES)))


def _assert_disjoint_sorted(parts: list[np.ndarray], n: int) -> np.ndarray:
    joined = np.concatenate(parts)
    assert len(np.unique(joined)) == len(joined), "a row is in two clients"
    assert joined.min() >= 0 and joined.max() < n
    for part in parts:
        assert part.dtype == np.int64 and np.all(np.diff(part) > 0)
    return joined


@pytest.mark.parametrize(
    "config",
    [
        PartitionConfig("iid", 7),
        PartitionConfig("dirichlet", 7, alpha=0.3),
        PartitionConfig("pathological", 12, classes_per_client=3),
        PartitionConfig("quantity", 7, alpha=0.5),
        PartitionConfig("specialist", 3, special_class=4, special_fraction=0.2),
    ],
    ids=lambda c: c.scheme,
)
def test_complete_schemes_cover_every_example_once(labels: np.ndarray, config: PartitionConfig) -> None:
    parts = make_partitions(labels, config)
    assert len(parts) == config.num_clients
    joined = _assert_disjoint_sorted(parts, len(labels))
    assert len(joined) == len(labels)
    assert all(len(p) >= 1 for p in parts)


@pytest.mark.parametrize("scheme", PARTITION_SCHEMES)
def test_same_seed_same_split_other_seed_other_split(labels: np.ndarray, scheme: str) -> None:
    config = PartitionConfig(scheme, 10, seed=5)
    first, again = make_partitions(labels, config), make_partitions(labels, config)
    other = make_partitions(labels, PartitionConfig(scheme, 10, seed=6))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_iid_sizes_differ_by_at_most_one_and_mix_labels(labels: np.ndarray) -> None:
    parts = iid_partition(labels, 6, seed=0)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert label_skew(label_histogram(labels, parts)) < 0.1


def test_dirichlet_skew_grows_as_alpha_falls(labels: np.ndarray) -> None:
    skews = [
        label_skew(label_histogram(labels, dirichlet_partition(labels, 8, alpha=alpha, seed=0)))
        for alpha in (100.0, 1.0, 0.1)
    ]
    assert skews[0] < 0.1 < skews[1] < skews[2]


def test_pathological_gives_each_client_exactly_k_classes(labels: np.ndarray) -> None:
    parts = pathological_partition(labels, 10, classes_per_client=2, seed=0)
    for client, part in enumerate(parts):
        held = np.unique(labels[part])
        assert len(held) == 2 and client % NUM_CLASSES in held


def test_pathological_warns_about_classes_no_client_holds(labels: np.ndarray) -> None:
    with pytest.warns(UserWarning, match="no client holds class"):
        parts = pathological_partition(labels, 2, classes_per_client=2, seed=0)
    assert len(np.unique(labels[np.concatenate(parts)])) == 4


def test_shards_are_equal_and_drop_only_the_remainder(labels: np.ndarray) -> None:
    clients, shards = 5, 3
    parts = shard_partition(labels, clients, shards_per_client=shards, seed=0)
    shard_size = len(labels) // (clients * shards)
    assert [len(p) for p in parts] == [shards * shard_size] * clients
    _assert_disjoint_sorted(parts, len(labels))
    assert label_skew(label_histogram(labels, parts)) > 0.4


def test_quantity_skew_varies_sizes_not_label_mix(labels: np.ndarray) -> None:
    parts = quantity_skew_partition(labels, 6, alpha=0.5, seed=1, min_size=20)
    sizes = np.array([len(p) for p in parts])
    assert sizes.min() >= 20 and sizes.max() > 3 * sizes.min()
    assert label_skew(label_histogram(labels, parts)) < 0.25


def test_quantity_skew_may_leave_clients_empty_only_when_allowed(labels: np.ndarray) -> None:
    parts = quantity_skew_partition(labels, 40, alpha=0.01, seed=0, min_size=0)
    assert sum(len(p) for p in parts) == len(labels) and min(len(p) for p in parts) == 0
    assert min(len(p) for p in quantity_skew_partition(labels, 40, alpha=0.01, seed=0)) >= 1


def test_specialist_split_is_the_papers_for_two_clients(labels: np.ndarray) -> None:
    special, fraction = 4, 0.1
    specialist, rest = specialist_partition(labels, 2, special_class=special, special_fraction=fraction, seed=0)
    assert np.array_equal(specialist[labels[specialist] == special], np.flatnonzero(labels == special))
    assert not np.any(labels[rest] == special)
    for cls in set(range(NUM_CLASSES)) - {special}:
        assert np.sum(labels[specialist] == cls) == round(fraction * np.sum(labels == cls))


def test_specialist_split_generalises_to_more_clients(labels: np.ndarray) -> None:
    parts = specialist_partition(labels, 4, special_class=0, special_fraction=0.5, seed=0)
    others = [len(p) for p in parts[1:]]
    assert max(others) - min(others) <= 1
    assert all(not np.any(labels[p] == 0) for p in parts[1:])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda y: dirichlet_partition(y, 4, alpha=0.0), "alpha must be a finite number > 0"),
        (lambda y: dirichlet_partition(y, 4, alpha=-1.0), "alpha must be"),
        (lambda y: iid_partition(y, len(y) + 1), "more clients than examples"),
        (lambda y: iid_partition(y, 0), "num_clients must be an integer ≥ 1"),
        (lambda y: pathological_partition(y, 4, classes_per_client=11), "exceeds the 10 classes"),
        (lambda y: shard_partition(y, 1000, shards_per_client=3), "need at least 3000 examples"),
        (lambda y: specialist_partition(y, 1, special_class=0), "at least 2 clients"),
        (lambda y: specialist_partition(y, 2, special_class=42), "does not occur in the labels"),
        (lambda y: specialist_partition(y, 2, special_class=0, special_fraction=1.5), r"special_fraction must lie in \[0, 1\]"),
        (lambda y: dirichlet_partition(y, 200, alpha=0.001, min_size=5), "min_size=0 to allow empty clients|fewer than 5"),
        (lambda y: iid_partition(y, 10, min_size=10_000), "fewer than 10000 examples"),
        (lambda y: iid_partition(y.astype(float), 2), "1-D array of integers"),
    ],
)
def test_bad_input_raises_a_clear_error(labels: np.ndarray, call, message: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=message):
            call(labels)


def test_config_rejects_unknown_schemes_and_options() -> None:
    with pytest.raises(ValueError, match="choose one of: iid, dirichlet, pathological, shards, quantity, specialist"):
        PartitionConfig("label-flip")
    with pytest.raises(ValueError, match=r"unknown partition option\(s\) \['alhpa'\]"):
        PartitionConfig.from_dict({"scheme": "dirichlet", "alhpa": 0.1})
    assert PartitionConfig.from_dict({"scheme": "dirichlet", "alpha": 0.1}).alpha == 0.1


def test_label_histogram_table_and_plot(labels: np.ndarray, tmp_path) -> None:
    parts = dirichlet_partition(labels, 3, alpha=1.0, seed=0)
    histogram = label_histogram(labels, parts, NUM_CLASSES)
    assert histogram.shape == (3, NUM_CLASSES)
    assert np.array_equal(histogram.sum(axis=0), np.bincount(labels, minlength=NUM_CLASSES))
    table = format_label_histogram(histogram)
    assert table.splitlines()[-2].split()[:2] == ["total", str(len(labels))]
    assert all(f"client {i}" in table for i in range(3)) and "label skew" in table
    path = plot_label_histogram(histogram, tmp_path / "split.png", [f"c{i}" for i in range(NUM_CLASSES)])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
