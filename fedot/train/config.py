"""``TrainConfig``: everything a local training run depends on, as validated plain data."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")
SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """One local training run. Defaults are the paper's MNIST recipe (SGD, lr 0.01, momentum 0.5, batch 64).

    Schedule positions (``warmup``, ``milestones``) are fractions of the run's total
    steps, so one config fits clients of any size and runs given in epochs or steps.
    """

    epochs: int = 1
    steps: int | None = None
    """When set, train exactly this many batches (cycling through epochs) instead of ``epochs`` passes."""
    batch_size: int = 64
    drop_last: bool = False
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.5
    """SGD momentum (ignored by Adam/AdamW, which use ``betas``)."""
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "constant"
    warmup: float = 0.0
    """Fraction of the steps over which the learning rate rises linearly to ``lr``."""
    milestones: tuple[float, ...] = (0.5, 0.75)
    """``step`` schedule: fractions of the run after which the rate is multiplied by ``gamma``."""
    gamma: float = 0.1
    label_smoothing: float = 0.0
    augment: bool | None = None
    """Random crop + horizontal flip; None follows the data set (on for CIFAR, off for digits)."""
    mixed_precision: bool = True
    """bf16 autocast on CUDA; CPU always runs fp32."""
    channels_last: bool = True
    """channels_last memory format on CUDA; ignored on CPU."""
    seed: int = 0
    """Seeds the example order and augmentation (initialise the model yourself)."""
    progress: bool = False
    """Show a tqdm bar (only when stderr is a terminal)."""

    def __post_init__(self) -> None:
        _require(_is_int(self.epochs) and self.epochs >= 1, "epochs", "an integer ≥ 1", self.epochs)
        _require(self.steps is None or (_is_int(self.steps) and self.steps >= 1), "steps", "None or an integer ≥ 1", self.steps)
        _require(_is_int(self.batch_size) and self.batch_size >= 1, "batch_size", "an integer ≥ 1", self.batch_size)
        _require(self.optimizer in OPTIMIZERS, "optimizer", f"one of: {', '.join(OPTIMIZERS)}", self.optimizer)
        _require(self.schedule in SCHEDULES, "schedule", f"one of: {', '.join(SCHEDULES)}", self.schedule)
        _require(_is_number(self.lr) and self.lr > 0, "lr", "a number > 0", self.lr)
        _require(_is_number(self.momentum) and 0 <= self.momentum < 1, "momentum", "in [0, 1)", self.momentum)
        _require(
            not (self.nesterov and self.optimizer == "sgd" and self.momentum == 0),
            "nesterov", "False when momentum is 0 (Nesterov needs momentum)", self.nesterov,
        )
        _require(_is_number(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "a number ≥ 0", self.weight_decay)
        _require(
            len(self.betas) == 2 and all(_is_number(b) and 0 <= b < 1 for b in self.betas),
            "betas", "two numbers in [0, 1)", self.betas,
        )
        _require(_is_number(self.warmup) and 0 <= self.warmup < 1, "warmup", "a fraction in [0, 1)", self.warmup)
        _require(
            all(_is_number(m) and 0 < m < 1 for m in self.milestones) and list(self.milestones) == sorted(self.milestones),
            "milestones", "increasing fractions in (0, 1)", self.milestones,
        )
        _require(_is_number(self.gamma) and 0 < self.gamma <= 1, "gamma", "in (0, 1]", self.gamma)
        _require(
            _is_number(self.label_smoothing) and 0 <= self.label_smoothing < 1,
            "label_smoothing", "in [0, 1)", self.label_smoothing,
        )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping (e.g. a TOML table; lists become tuples), rejecting unknown keys by name."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; valid: {', '.join(sorted(known))}")
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain values, e.g. to save next to results; ``from_dict`` reads them back."""
        return dataclasses.asdict(self)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(ok: bool, field: str, expected: str, value: object) -> None:
    if not ok:
        raise ValueError(f"TrainConfig.{field} must be {expected}, got {value!r}")
