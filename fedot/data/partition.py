"""Split a training set across clients: index arrays, deterministic for a seed.

Schemes (``PARTITION_SCHEMES``):

- ``iid``: a seeded shuffle cut into near-equal parts (flwr-datasets ``IidPartitioner``).
- ``dirichlet``: label skew; each class is divided among clients by Dirichlet(α)
  proportions, so small α means few classes per client (``DirichletPartitioner``).
- ``pathological``: each client holds exactly ``classes_per_client`` classes, client i
  always class ``i mod C`` (``PathologicalPartitioner``, "first-deterministic").
- ``shards``: label-sorted data cut into equal shards, ``shards_per_client`` random
  shards each, as in FedAvg's paper (``ShardPartitioner``).
- ``quantity``: label mix stays IID but client sizes follow Dirichlet(α) proportions
  (``SizePartitioner`` on a seeded shuffle).
- ``specialist``: Singh & Jaggi's heterogeneous split. Client 0 gets every example of
  ``special_class`` plus ``special_fraction`` of each other class; the rest is split
  IID among the other clients (for 2 clients: exactly the paper's split).

Every function returns one sorted int64 array per client, into the ``labels`` it was
given; the arrays are disjoint, and cover all examples except where a scheme says
otherwise. No client gets fewer than ``min_size`` examples (default 1: no empty client).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from flwr_datasets.partitioner import (
    DirichletPartitioner,
    IidPartitioner,
    Partitioner,
    PathologicalPartitioner,
    ShardPartitioner,
    SizePartitioner,
)

PARTITION_SCHEMES: tuple[str, ...] = ("iid", "dirichlet", "pathological", "shards", "quantity", "specialist")

Labels = Sequence[int] | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class PartitionConfig:
    """How to split a training set; every field is plain data (loadable from TOML)."""

    scheme: str = "iid"
    num_clients: int = 2
    seed: int = 0
    alpha: float = 0.5
    """Dirichlet concentration: of the label mix (``dirichlet``) or of the sizes (``quantity``)."""
    classes_per_client: int = 2
    """``pathological``: classes each client holds."""
    shards_per_client: int = 2
    """``shards``: shards each client holds."""
    special_class: int = 0
    """``specialist``: the class client 0 gets all of."""
    special_fraction: float = 0.1
    """``specialist``: share of every other class that client 0 also gets."""
    min_size: int = 1
    """Fewest examples any client may get; 0 allows empty clients."""

    def __post_init__(self) -> None:
        if self.scheme not in PARTITION_SCHEMES:
            raise ValueError(
                f"unknown partition scheme {self.scheme!r}; choose one of: {', '.join(PARTITION_SCHEMES)}"
            )
        _check_positive_int("num_clients", self.num_clients)
        _check_positive_int("classes_per_client", self.classes_per_client)
        _check_positive_int("shards_per_client", self.shards_per_client)
        _check_alpha(self.alpha)
        _check_fraction(self.special_fraction)
        if not isinstance(self.min_size, int) or self.min_size < 0:
            raise ValueError(f"min_size must be an integer ≥ 0 (0 allows empty clients), got {self.min_size!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PartitionConfig:
        """Build from a mapping (e.g. a TOML table), rejecting unknown keys by name."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown partition option(s) {unknown}; valid: {', '.join(sorted(known))}")
        return cls(**values)


def make_partitions(labels: Labels, config: PartitionConfig) -> list[np.ndarray]:
    """Split the examples with these ``labels`` as ``config`` says (see the module docstring)."""
    common = {"seed": config.seed, "min_size": config.min_size}
    if config.scheme == "iid":
        return iid_partition(labels, config.num_clients, **common)
    if config.scheme == "dirichlet":
        return dirichlet_partition(labels, config.num_clients, alpha=config.alpha, **common)
    if config.scheme == "pathological":
        return pathological_partition(
            labels, config.num_clients, classes_per_client=config.classes_per_client, **common
        )
    if config.scheme == "shards":
        return shard_partition(labels, config.num_clients, shards_per_client=config.shards_per_client, **common)
    if config.scheme == "quantity":
        return quantity_skew_partition(labels, config.num_clients, alpha=config.alpha, **common)
    return specialist_partition(
        labels,
        config.num_clients,
        special_class=config.special_class,
        special_fraction=config.special_fraction,
        **common,
    )


def iid_partition(labels: Labels, num_clients: int, *, seed: int = 0, min_size: int = 1) -> list[np.ndarray]:
    """Uniformly random parts whose sizes differ by at most one; covers every example."""
    array = _check_labels(labels, num_clients)
    parts = _run_partitioner(IidPartitioner(num_clients), array, shuffle_seed=seed)
    return _check_min_size(parts, min_size, "iid")


def dirichlet_partition(
    labels: Labels, num_clients: int, *, alpha: float, seed: int = 0, min_size: int = 1
) -> list[np.ndarray]:
    """Label skew: each class's examples go to clients in Dirichlet(α) proportions; covers every example.

    Draws again (up to 10 times) while a client has fewer than ``min_size`` examples.
    """
    array = _check_labels(labels, num_clients)
    _check_alpha(alpha)
    partitioner = DirichletPartitioner(
        num_clients, "label", alpha=float(alpha), min_partition_size=min_size, seed=seed
    )
    try:
        parts = _run_partitioner(partitioner, array)
    except ValueError as error:
        if "max number of attempts" not in str(error):
            raise
        raise ValueError(
            f"dirichlet(alpha={alpha}) left some client with fewer than {min_size} examples in 10 draws; "
            f"raise alpha, use fewer than {num_clients} clients, or pass min_size=0 to allow empty clients"
        ) from None
    return _check_min_size(parts, min_size, "dirichlet")


def pathological_partition(
    labels: Labels, num_clients: int, *, classes_per_client: int, seed: int = 0, min_size: int = 1
) -> list[np.ndarray]:
    """Each client holds exactly ``classes_per_client`` classes; a class's examples are shared
    equally among the clients holding it.

    Client i always holds class ``i mod C``, the others are drawn at random, so all
    classes are covered once ``num_clients ≥ C``. Examples of classes that no client
    holds are left out (with a warning).
    """
    array = _check_labels(labels, num_clients)
    _check_positive_int("classes_per_client", classes_per_client)
    num_classes = len(np.unique(array))
    if classes_per_client > num_classes:
        raise ValueError(
            f"classes_per_client={classes_per_client} exceeds the {num_classes} classes in the labels; "
            f"choose 1 to {num_classes}"
        )
    partitioner = PathologicalPartitioner(
        num_clients, "label", classes_per_client, class_assignment_mode="first-deterministic", seed=seed
    )
    parts = _run_partitioner(partitioner, array)
    unused = sorted(set(np.unique(array).tolist()) - set(np.unique(array[np.concatenate(parts)]).tolist()))
    if unused:
        warnings.warn(
            f"pathological split: no client holds class(es) {unused}, so their examples are left out; "
            f"use more clients or more classes_per_client to cover them",
            stacklevel=2,
        )
    return _check_min_size(parts, min_size, "pathological")


def shard_partition(
    labels: Labels, num_clients: int, *, shards_per_client: int, seed: int = 0, min_size: int = 1
) -> list[np.ndarray]:
    """FedAvg's shards: sort by label, cut into ``num_clients × shards_per_client`` equal shards,
    deal them out at random.

    The ``len(labels) mod (num_clients × shards_per_client)`` examples that fill no
    whole shard are left out.
    """
    array = _check_labels(labels, num_clients)
    _check_positive_int("shards_per_client", shards_per_client)
    if num_clients * shards_per_client > len(array):
        raise ValueError(
            f"{num_clients} clients × {shards_per_client} shards need at least "
            f"{num_clients * shards_per_client} examples, got {len(array)}"
        )
    partitioner = ShardPartitioner(
        num_clients, "label", num_shards_per_partition=shards_per_client, seed=seed
    )
    return _check_min_size(_run_partitioner(partitioner, array), min_size, "shards")


def quantity_skew_partition(
    labels: Labels, num_clients: int, *, alpha: float, seed: int = 0, min_size: int = 1
) -> list[np.ndarray]:
    """Quantity skew: client sizes are ``min_size`` plus Dirichlet(α) shares of the rest,
    filled IID; covers every example."""
    array = _check_labels(labels, num_clients)
    _check_alpha(alpha)
    spare = len(array) - num_clients * min_size
    if spare < 0:
        raise ValueError(
            f"{num_clients} clients × min_size={min_size} need {num_clients * min_size} examples, got {len(array)}"
        )
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.full(num_clients, float(alpha))) * spare
    sizes = np.floor(shares).astype(np.int64)
    leftover = spare - int(sizes.sum())
    sizes[np.argsort(sizes - shares, kind="stable")[:leftover]] += 1  # largest remainders first
    sizes += min_size
    filled = iter(
        _run_partitioner(SizePartitioner([int(s) for s in sizes if s > 0]), array, shuffle_seed=seed)
    )
    parts = [next(filled) if size > 0 else np.empty(0, dtype=np.int64) for size in sizes]
    return _check_min_size(parts, min_size, "quantity")


def specialist_partition(
    labels: Labels,
    num_clients: int = 2,
    *,
    special_class: int,
    special_fraction: float = 0.1,
    seed: int = 0,
    min_size: int = 1,
) -> list[np.ndarray]:
    """Singh & Jaggi's heterogeneous split; covers every example.

    Client 0 gets all examples of ``special_class`` and a random ``special_fraction``
    of each other class (rounded per class); the remaining examples are split IID
    among clients 1 … ``num_clients - 1``.
    """
    array = _check_labels(labels, num_clients)
    _check_fraction(special_fraction)
    if num_clients < 2:
        raise ValueError(f"the specialist split needs at least 2 clients, got num_clients={num_clients}")
    present = np.unique(array)
    if special_class not in present:
        raise ValueError(
            f"special_class={special_class} does not occur in the labels; choose one of {present.tolist()}"
        )
    rng = np.random.default_rng(seed)
    specialist = [np.flatnonzero(array == special_class)]
    for label in present[present != special_class]:
        members = rng.permutation(np.flatnonzero(array == label))
        specialist.append(members[: round(special_fraction * len(members))])
    specialist_indices = np.sort(np.concatenate(specialist))
    rest = np.setdiff1d(np.arange(len(array)), specialist_indices)
    if len(rest) < num_clients - 1:
        raise ValueError(
            f"only {len(rest)} examples remain for the {num_clients - 1} other clients; "
            f"lower special_fraction or num_clients"
        )
    others = iid_partition(array[rest], num_clients - 1, seed=seed, min_size=0)
    parts = [specialist_indices, *(rest[part] for part in others)]
    return _check_min_size(parts, min_size, "specialist")


def _run_partitioner(
    partitioner: Partitioner, labels: np.ndarray, shuffle_seed: int | None = None
) -> list[np.ndarray]:
    """Apply a flwr-datasets partitioner to an in-memory label column; return sorted row indices."""
    table = Dataset.from_dict({"label": labels, "row": np.arange(len(labels))})
    if shuffle_seed is not None:
        table = table.shuffle(seed=shuffle_seed)
    partitioner.dataset = table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # flwr-datasets' retry and unused-class warnings; we report our own
        return [
            np.sort(np.asarray(partitioner.load_partition(i)["row"][:], dtype=np.int64))
            for i in range(partitioner.num_partitions)
        ]


def _check_labels(labels: Labels, num_clients: int) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D array of integers, got dtype {array.dtype} shape {array.shape}")
    _check_positive_int("num_clients", num_clients)
    if num_clients > len(array):
        raise ValueError(f"cannot split {len(array)} examples among {num_clients} clients: more clients than examples")
    return array.astype(np.int64, copy=False)


def _check_min_size(parts: list[np.ndarray], min_size: int, scheme: str) -> list[np.ndarray]:
    small = [i for i, part in enumerate(parts) if len(part) < min_size]
    if small:
        sizes = ", ".join(f"client {i}: {len(parts[i])}" for i in small[:10])
        hint = " (pass min_size=0 to allow empty clients)" if min_size == 1 else ""
        raise ValueError(
            f"{scheme} split gives {len(small)} client(s) fewer than {min_size} examples ({sizes}); "
            f"use fewer clients or a less skewed split{hint}"
        )
    return parts


def _check_positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")


def _check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a finite number > 0 (smaller = more skewed), got {alpha!r}")


def _check_fraction(fraction: float) -> None:
    if not (isinstance(fraction, (int, float)) and 0 <= fraction <= 1):
        raise ValueError(f"special_fraction must lie in [0, 1], got {fraction!r}")
