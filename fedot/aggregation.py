"""The aggregations fedot compares, by name: one table for the strategies, the simulations and the benchmarks.

Framework-free data (no Flower, no torch): what each name means — whether the server fuses
by OT (with the run's :class:`~fedot.recipe.Recipe`) or averages plainly, and whether it
then distills (with the run's :class:`~fedot.recipe.DistillRecipe`). The Flower strategies
(``strategies/``) and the offline replays (``simulations/``, ``benchmarks/``) both run an
:class:`Aggregation` with :func:`fedot.fusion.aggregate.aggregate`, so a replayed row is what
the same run config produces in Flower.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedot.recipe import DistillRecipe, Recipe


@dataclass(frozen=True)
class Kind:
    """What an aggregation name stands for."""

    label: str
    """Its name in result tables."""
    fuses: bool
    """OT fusion (else plain example-weighted averaging, FedAvg's)."""
    distills: bool
    """Fuse-then-distill on the server's unlabelled inputs: training, reported apart from pure fusion."""


KINDS: dict[str, Kind] = {
    "otfusion": Kind("OT fusion", fuses=True, distills=False),
    "fedavg": Kind("FedAvg", fuses=False, distills=False),
    "otfusion+distill": Kind("OT fusion + distillation", fuses=True, distills=True),
    "fedavg+distill": Kind("FedAvg + distillation", fuses=False, distills=True),
}
NAMES: tuple[str, ...] = tuple(KINDS)


@dataclass(frozen=True)
class Aggregation:
    """One named way to aggregate: the recipe it fuses with (None: plain averaging) and its distillation."""

    name: str
    fusion: Recipe | None
    distillation: DistillRecipe | None

    @property
    def label(self) -> str:
        return KINDS[self.name].label

    def reads_inputs(self) -> bool:
        """Whether it needs the server's unlabelled inputs."""
        return self.distillation is not None or (self.fusion is not None and bool(self.fusion.reads_inputs()))


def aggregation(name: str, fusion: Recipe, distillation: DistillRecipe) -> Aggregation:
    """The aggregation ``name`` with a run's recipes (each used only where the name asks for it)."""
    if name not in KINDS:
        raise ValueError(f"invalid strategy {name!r}; choose from: {', '.join(NAMES)}")
    kind = KINDS[name]
    return Aggregation(name, fusion if kind.fuses else None, distillation if kind.distills else None)


def label(name: str) -> str:
    """A strategy's name in result tables (the name itself for strategies not in the table)."""
    return KINDS[name].label if name in KINDS else name
