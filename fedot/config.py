"""``RunConfig``: one federated run, as validated plain data.

The same kebab-case keys name a setting everywhere: the ``python -m
fedot.simulate`` flags (``--local-epochs``), the TOML files under
``simulations/`` and Flower's run config (``[tool.flwr.app.config]`` in
``pyproject.toml``, ``context.run_config`` in the apps). A run's config is saved
with its results, so every result can be reproduced from its own output folder.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedot.data.catalog import DATASETS
from fedot.data.partition import PARTITION_SCHEMES, PartitionConfig
from fedot.models import MODELS
from fedot.train.config import OPTIMIZERS, SCHEDULES, TrainConfig

STRATEGIES: tuple[str, ...] = ("otfusion", "fedavg", "otfusion+distill", "fedavg+distill")
"""``+distill``: the aggregate (OT fusion, or plain averaging) then distilled on the server-held
images (``distill-*`` keys) — training, so reported apart from pure fusion."""
INITS: tuple[str, ...] = ("same", "different")
ALIGNMENTS: tuple[str, ...] = ("weights", "activations", "none", "select")
SOLVERS: tuple[str, ...] = ("exact", "sinkhorn")
METRICS: tuple[str, ...] = ("euclidean", "cosine", "correlation")
ANCHORS: tuple[str, ...] = ("largest", "first", "select")
OUTPUT_WEIGHTS: tuple[str, ...] = ("examples", "predicted", "select")
DISTILL_TARGETS: tuple[str, ...] = ("confident", "ensemble")

ConfigValue = bool | int | float | str

CHOICES: dict[str, tuple[str, ...]] = {
    "dataset": DATASETS,
    "model": tuple(MODELS),
    "partition": PARTITION_SCHEMES,
    "init": INITS,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "ot_align": ALIGNMENTS,
    "ot_solver": SOLVERS,
    "ot_metric": METRICS,
    "ot_anchor": ANCHORS,
    "ot_output_weights": OUTPUT_WEIGHTS,
    "distill_target": DISTILL_TARGETS,
}
"""The settings that take one of a fixed set of values, by field name."""


def _setting(default: ConfigValue, help: str) -> Any:  # noqa: A002  (argparse's word)
    """A RunConfig field with its one-line help (used by the simulate flags)."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything one federated run depends on. Field ``local_epochs`` is key ``local-epochs``.

    Each field's help (``dataclasses.fields(RunConfig)[i].metadata["help"]``) is
    the text of its command-line flag.
    """

    # data and model
    dataset: str = _setting("digits", "data set: " + ", ".join(DATASETS))
    data_dir: str = _setting("", "folder of the data set (empty: $FEDOT_DATA_DIR or ~/.cache/fedot/data)")
    model: str = _setting("mlp", "architecture (fedot.models)")
    # the federation
    clients: int = _setting(4, "number of clients")
    partition: str = _setting("dirichlet", "how the training set is split across clients")
    alpha: float = _setting(0.5, "Dirichlet concentration (dirichlet, quantity): smaller is more skewed")
    classes_per_client: int = _setting(2, "classes per client (pathological)")
    shards_per_client: int = _setting(2, "shards per client (shards)")
    special_class: int = _setting(0, "the class client 0 gets all of (specialist)")
    special_fraction: float = _setting(0.1, "share of every other class client 0 gets (specialist)")
    server_samples: int = _setting(
        200, "unlabelled training images the server holds and no client has (activation alignment, repair)"
    )
    seed: int = _setting(0, "seed of partitions, initialisation and training")
    init: str = _setting("same", "same: clients start from the server's model; different: each from its own seed")
    # rounds and local training
    strategy: str = _setting(
        "otfusion,fedavg", "comma-separated strategies, run one after the other on identical clients and data"
    )
    rounds: int = _setting(1, "federated rounds (1: one-shot)")
    local_epochs: int = _setting(3, "local epochs per round")
    batch_size: int = _setting(32, "local batch size")
    optimizer: str = _setting("sgd", "local optimizer")
    lr: float = _setting(0.05, "local learning rate")
    momentum: float = _setting(0.9, "SGD momentum")
    weight_decay: float = _setting(0.0, "weight decay")
    schedule: str = _setting("constant", "learning-rate schedule within a round")
    val_fraction: float = _setting(0.0, "share of each client's data kept for client-side evaluation (0: none)")
    min_replies: int = _setting(2, "a round fails when fewer clients send a usable model")
    round_timeout: float = _setting(3600.0, "seconds a round waits for replies; later ones are left out")
    node_timeout: float = _setting(120.0, "seconds to wait for all clients' nodes to connect")
    # OT fusion
    ot_align: str = _setting(
        "select",
        "what OT compares: incoming weights, activations on server-held images, none (plain averaging), "
        "or select (try all three, keep the one the guard criterion prefers)",
    )
    ot_solver: str = _setting("exact", "exact OT (a permutation at equal widths) or entropic Sinkhorn")
    ot_reg: float = _setting(0.01, "Sinkhorn regularisation, relative to the mean cost (below ~0.005 it may not converge)")
    ot_metric: str = _setting(
        "euclidean", "OT ground metric between neurons: euclidean, cosine, or correlation (centred cosine)"
    )
    ot_anchor: str = _setting(
        "select",
        "model the others are aligned to: the client with most examples, the first, "
        "or select (each client in turn, keep the one the guard criterion prefers)",
    )
    ot_iterations: int = _setting(0, "barycenter iterations: re-align every client to the fused model")
    ot_refine: int = _setting(
        20, "weight-matching sweeps refining each client's maps from incoming and outgoing weights (0: off)"
    )
    ot_repair: bool = _setting(True, "after fusion, repair activation statistics on server-held images")
    ot_output_weights: str = _setting(
        "select",
        "output layer: average with example counts, with per-class weights predicted from the clients' "
        "outputs on server-held images, or select (both)",
    )
    ot_guard: bool = _setting(
        True,
        "also consider plain averaging and keep the candidate that agrees best with the most confident "
        "client's label on each server-held image (never worse than averaging on that criterion)",
    )
    # fuse-then-distill (strategies otfusion+distill, fedavg+distill)
    distill_steps: int = _setting(100, "distillation steps (Adam) on the server-held images after aggregating")
    distill_lr: float = _setting(1e-4, "distillation learning rate")
    distill_target: str = _setting(
        "confident", "distillation target: the most confident client's softmax, or the clients' mean softmax"
    )
    # evaluation
    evaluate_clients: bool = _setting(True, "test every client's model and their prediction ensemble each round")
    # resources and output
    cpus_per_client: int = _setting(1, "CPUs per simulated client")
    gpus_per_client: float = _setting(0.0, "GPUs per simulated client (fractions share a GPU)")
    ray_address: str = _setting("", "attach the simulation to this running Ray cluster (host:port)")
    output_dir: str = _setting("", "results folder (empty: runs/<date-time>)")

    def __post_init__(self) -> None:
        for name, choices in CHOICES.items():
            _choice(key_of(name), getattr(self, name), choices)
        for name in self.strategies:
            _choice("strategy", name, STRATEGIES)
        if len(set(self.strategies)) != len(self.strategies):
            raise ValueError(f"strategy lists a strategy twice: {self.strategy!r}")
        _at_least("clients", self.clients, 1)
        _at_least("rounds", self.rounds, 1)
        _at_least("local-epochs", self.local_epochs, 1)
        _at_least("batch-size", self.batch_size, 1)
        _at_least("server-samples", self.server_samples, 0)
        _at_least("min-replies", self.min_replies, 1)
        _at_least("ot-iterations", self.ot_iterations, 0)
        _at_least("ot-refine", self.ot_refine, 0)
        _at_least("distill-steps", self.distill_steps, 1)
        if self.distill_lr <= 0:
            raise ValueError(f"distill-lr must be > 0, got {self.distill_lr}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val-fraction must be in [0, 1), got {self.val_fraction}")
        for key, value in (("round-timeout", self.round_timeout), ("node-timeout", self.node_timeout),
                           ("cpus-per-client", self.cpus_per_client)):
            if value <= 0:
                raise ValueError(f"{key} must be > 0, got {value}")
        if self.gpus_per_client < 0:
            raise ValueError(f"gpus-per-client must be ≥ 0, got {self.gpus_per_client}")
        if self.ot_reg <= 0:
            raise ValueError(f"ot-reg must be > 0, got {self.ot_reg}")
        fusing = any(name.startswith("otfusion") for name in self.strategies)
        distilling = any(name.endswith("+distill") for name in self.strategies)
        if ((fusing and self.needs_server_samples) or distilling) and self.server_samples == 0:
            raise ValueError(
                "ot-align=activations/select, ot-repair, ot-output-weights=predicted/select, ot-anchor=select, "
                "ot-guard and the +distill strategies need unlabelled server-held images: set server-samples > 0, "
                "or use ot-align=weights, ot-anchor=largest, ot-repair=false, ot-output-weights=examples, "
                "ot-guard=false"
            )
        self.partition_config()  # validates alpha, classes-per-client, ...
        self.train_config()  # validates lr, momentum, ...

    @property
    def strategies(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.strategy.split(",") if name.strip())

    @property
    def needs_server_samples(self) -> bool:
        """Whether OT fusion as configured reads the server-held images.

        The ``ot-*`` form of ``fedot.fusion.api.options_reading_inputs``, written out here so that
        ClientApps, which validate a RunConfig too, start without importing the fusion engine."""
        return (
            self.ot_align in ("activations", "select") or self.ot_repair or self.ot_output_weights != "examples"
            or self.ot_anchor == "select" or self.ot_guard
        )  # fmt: skip

    def partition_config(self) -> PartitionConfig:
        return PartitionConfig(
            scheme=self.partition,
            num_clients=self.clients,
            seed=self.seed,
            alpha=self.alpha,
            classes_per_client=self.classes_per_client,
            shards_per_client=self.shards_per_client,
            special_class=self.special_class,
            special_fraction=self.special_fraction,
        )

    def train_config(self, seed: int | None = None) -> TrainConfig:
        return TrainConfig(
            epochs=self.local_epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            schedule=self.schedule,
            seed=self.seed if seed is None else seed,
        )

    def to_flower(self) -> dict[str, ConfigValue]:
        """The run config Flower carries to the ServerApp and ClientApps (kebab-case keys)."""
        return {key_of(f.name): getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_flower(cls, values: Mapping[str, Any]) -> RunConfig:
        """Build from kebab-case keys (Flower's run config, a TOML file), rejecting unknown keys."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in values if k.replace("-", "_") not in fields)
        if unknown:
            raise ValueError(
                f"unknown setting(s) {', '.join(unknown)}; valid: "
                f"{', '.join(sorted(key_of(name) for name in fields))}"
            )
        kwargs = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            kwargs[name] = _coerce(key, value, type(fields[name].default))
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: Path) -> RunConfig:
        """Load a run from a TOML file of kebab-case keys (as under ``simulations/``)."""
        with path.open("rb") as file:
            return cls.from_flower(tomllib.load(file))

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


def key_of(field_name: str) -> str:
    """The kebab-case key of a field: ``local_epochs`` → ``local-epochs``."""
    return field_name.replace("_", "-")


def _coerce(key: str, value: Any, kind: type) -> Any:
    """``value`` as ``kind``; TOML and Flower give ints where floats are meant."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{key} must be {kind.__name__}, got {value!r}")
    return value


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"invalid {key} {value!r}; choose from: {', '.join(choices)}")


def _at_least(key: str, value: int, low: int) -> None:
    if value < low:
        raise ValueError(f"{key} must be ≥ {low}, got {value}")
