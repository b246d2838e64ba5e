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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedot.aggregation import NAMES as STRATEGIES
from fedot.aggregation import Aggregation, aggregation
from fedot.data.catalog import DATASETS
from fedot.data.partition import PARTITION_SCHEMES, PartitionConfig
from fedot.models import MODELS
from fedot.recipe import ConfigValue, DistillRecipe, InvalidOption, Recipe
from fedot.train.config import OPTIMIZERS, SCHEDULES, TrainConfig

INITS: tuple[str, ...] = ("same", "different")

CHOICES: dict[str, tuple[str, ...]] = {
    "dataset": DATASETS,
    "model": tuple(MODELS),
    "partition": PARTITION_SCHEMES,
    "init": INITS,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
}
"""The plain settings that take one of a fixed set of values, by field name (recipe fields carry their own)."""

RECIPES: dict[str, tuple[str, type]] = {"ot": ("fusion", Recipe), "distill": ("distillation", DistillRecipe)}
"""Key prefix → the RunConfig field holding that recipe and its type: ``ot-refine`` is ``fusion.refine``."""


@dataclass(frozen=True)
class Setting:
    """One kebab-case run setting as flags, TOML files and Flower's run config name it."""

    key: str
    default: ConfigValue
    help: str
    choices: tuple[str, ...] | None
    field: str
    """The RunConfig field holding it."""
    option: str | None = None
    """For a recipe's setting, the recipe field."""


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
    # how the server fuses and distills: every field of each recipe is an ot-* / distill-* key
    fusion: Recipe = dataclasses.field(default_factory=Recipe, metadata={"help": "the fusion recipe (ot-* keys)"})
    distillation: DistillRecipe = dataclasses.field(
        default_factory=DistillRecipe, metadata={"help": "the fuse-then-distill recipe (distill-* keys)"}
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
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val-fraction must be in [0, 1), got {self.val_fraction}")
        for key, value in (("round-timeout", self.round_timeout), ("node-timeout", self.node_timeout),
                           ("cpus-per-client", self.cpus_per_client)):
            if value <= 0:
                raise ValueError(f"{key} must be > 0, got {value}")
        if self.gpus_per_client < 0:
            raise ValueError(f"gpus-per-client must be ≥ 0, got {self.gpus_per_client}")
        if not isinstance(self.fusion.anchor, str):
            raise ValueError("a run's ot-anchor is 'largest', 'first' or 'select' (model indices are for fedot.fusion.fuse)")
        readers = [a.name for a in self.aggregations() if a.reads_inputs()]
        if readers and self.server_samples == 0:
            options = ", ".join(f"ot-{key_of(name)}={getattr(self.fusion, name)!r}" for name in self.fusion.reads_inputs())
            raise ValueError(
                f"strategy {', '.join(readers)} needs unlabelled server-held images ({options or 'distillation'}): "
                "set server-samples > 0, or use ot-align=weights, ot-anchor=largest, ot-repair=false, "
                "ot-output-weights=examples, ot-guard=false and no +distill strategy"
            )
        self.partition_config()  # validates alpha, classes-per-client, ...
        self.train_config()  # validates lr, momentum, ...

    @property
    def strategies(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.strategy.split(",") if name.strip())

    def aggregations(self) -> list[Aggregation]:
        """Every strategy of the run with the run's recipes (``fedot.aggregation``)."""
        return [aggregation(name, self.fusion, self.distillation) for name in self.strategies]

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
        values: dict[str, ConfigValue] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if dataclasses.is_dataclass(value):
                prefix = next(p for p, (name, _) in RECIPES.items() if name == field.name)
                values.update({f"{prefix}-{key_of(f.name)}": getattr(value, f.name) for f in dataclasses.fields(value)})
            else:
                values[key_of(field.name)] = value
        return values

    @classmethod
    def settings(cls) -> Iterator[Setting]:
        """Every setting (plain fields, then each recipe's fields under its prefix), with its default."""
        recipes = {name: (prefix, recipe_type) for prefix, (name, recipe_type) in RECIPES.items()}
        for field in dataclasses.fields(cls):
            if field.name not in recipes:
                yield Setting(key_of(field.name), field.default, field.metadata["help"], CHOICES.get(field.name), field.name)
                continue
            prefix, recipe_type = recipes[field.name]
            for option in dataclasses.fields(recipe_type):
                yield Setting(
                    f"{prefix}-{key_of(option.name)}", option.default, option.metadata["help"],
                    option.metadata["choices"], field.name, option.name,
                )  # fmt: skip

    @classmethod
    def from_flower(cls, values: Mapping[str, Any]) -> RunConfig:
        """Build from kebab-case keys (Flower's run config, a TOML file), rejecting unknown keys."""
        settings = {setting.key: setting for setting in cls.settings()}
        unknown = sorted(k for k in values if k not in settings)
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(settings))}")
        plain: dict[str, Any] = {}
        options: dict[str, dict[str, Any]] = {name: {} for name, _ in RECIPES.values()}
        for key, raw in values.items():
            setting = settings[key]
            value = _coerce(key, raw, type(setting.default))
            if setting.choices:
                _choice(key, value, setting.choices)
            if setting.option is None:
                plain[setting.field] = value
            else:
                options[setting.field][setting.option] = value
        for prefix, (name, recipe_type) in RECIPES.items():
            try:
                plain[name] = recipe_type(**options[name])
            except InvalidOption as error:
                raise ValueError(f"{prefix}-{key_of(error.option)} {error.problem}") from None
        return cls(**plain)

    @classmethod
    def from_toml(cls, path: Path) -> RunConfig:
        """Load a run from a TOML file of kebab-case keys (as under ``simulations/``)."""
        with path.open("rb") as file:
            return cls.from_flower(tomllib.load(file))

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def with_settings(self, values: Mapping[str, Any]) -> RunConfig:
        """This config with some kebab-case settings changed (``{"ot-refine": 0}``), validated as ``from_flower``."""
        return RunConfig.from_flower({**self.to_flower(), **values})


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
