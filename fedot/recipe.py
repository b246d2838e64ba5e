"""The fusion recipe: every choice of how the server fuses, as one typed, torch-free value.

:class:`Recipe` is the only place that names a fusion option, holds its default and
validates it; :class:`DistillRecipe` does the same for fuse-then-distill. Everything
else derives from them: ``RunConfig`` exposes each field as an ``ot-<name>`` (or
``distill-<name>``) key of the run config, TOML files and ``fedot.simulate`` flags; the
``OTFusion`` strategy, ``python -m fedot.fuse``, the simulations and the benchmarks
take a recipe; :func:`fedot.fusion.fuse` runs one. Adding an option is one field here
plus its use (and its default in ``pyproject.toml``'s app config, which a test keeps
equal). No torch here: ClientApps validate run configs without loading the fusion engine.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

ConfigValue = bool | int | float | str

ALIGNMENTS = ("weights", "activations", "none", "select")
ANCHORS = ("largest", "first", "select")
OUTPUT_WEIGHTS = ("examples", "predicted", "select")
REPAIR_METHODS = ("auto", "reset_bn", "rescale")
METRICS = ("euclidean", "cosine", "correlation")
SOLVERS = ("exact", "sinkhorn")
MARGINALS = ("uniform", "importance")
DISTILL_TARGETS = ("confident", "ensemble")


class InvalidOption(ValueError):
    """A recipe option with a value it cannot take; ``option`` is the field's name."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"{option} {problem}")
        self.option = option
        self.problem = problem


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidOption(name, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidOption(name, f"must be True or False, got {value!r}")


def option(default: ConfigValue, help: str, choices: tuple[str, ...] | None = None) -> Any:  # noqa: A002
    """A recipe field with its one-line help and, for a choice, its valid values."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class TransportOptions:
    """How two sets of neurons are compared and coupled (see :mod:`fedot.fusion.transport`).

    ``metric``: ``"euclidean"`` distance between feature rows; ``"cosine"`` — the Euclidean
    distance between the rows scaled to unit length (``sqrt(2 - 2 cos)``); ``"correlation"`` —
    the same on rows first centred (their mean over features subtracted), i.e.
    ``sqrt(2 - 2 ρ)`` with ρ the Pearson correlation: for activations, neurons that co-vary
    across inputs match whatever their offsets and scales. ``squared`` squares any of them.
    ``marginals``: ``"uniform"``, or ``"importance"`` — mass proportional to each neuron's
    feature norm. ``solver``: ``"exact"`` OT (a permutation when widths are equal and marginals
    uniform), or ``"sinkhorn"`` — entropic OT with strength ``reg`` measured in units of the
    cost matrix's mean entry (``reg=0.01``: nearly hard, ``reg=1``: very soft).
    """

    metric: str = "euclidean"
    squared: bool = False
    marginals: str = "uniform"
    solver: str = "exact"
    reg: float = 0.01

    def __post_init__(self) -> None:
        _check_choice("metric", self.metric, METRICS)
        _check_choice("marginals", self.marginals, MARGINALS)
        _check_choice("solver", self.solver, SOLVERS)
        _check_flag("squared", self.squared)
        if isinstance(self.reg, bool) or not isinstance(self.reg, (int, float)) or not (self.reg > 0 and math.isfinite(self.reg)):
            raise InvalidOption("reg", f"must be a finite number > 0 (Sinkhorn strength), got {self.reg!r}")


@dataclass(frozen=True)
class Recipe:
    """How the server fuses its clients' models. The defaults are fedot's best recipe with server inputs.

    A ``"select"`` value (``align``, ``anchor``, ``output_weights``) expands into one candidate
    per choice, and with ``guard`` plain averaging is a candidate too; the guard criterion on
    the server's unlabelled inputs keeps one (:mod:`fedot.fusion.select`). Without server
    inputs use :meth:`data_free`. Field docs: each field's ``metadata["help"]``.
    """

    align: str = option(
        "select",
        "what OT compares: incoming weights, activations on server-held inputs, none (plain averaging), "
        "or select (try all three, keep the one the guard criterion prefers)",
        ALIGNMENTS,
    )
    solver: str = option("exact", "exact OT (a permutation at equal widths) or entropic Sinkhorn", SOLVERS)
    reg: float = option(0.01, "Sinkhorn regularisation, relative to the mean cost (below ~0.005 it may not converge)")
    metric: str = option(
        "euclidean", "OT ground metric between neurons: euclidean, cosine, or correlation (centred cosine)", METRICS
    )
    squared: bool = option(False, "square the ground metric")
    marginals: str = option("uniform", "neuron masses: uniform, or importance (proportional to feature norms)", MARGINALS)
    anchor: str | int = option(
        "select",
        "model the others are aligned to: the client with most examples, the first, "
        "or select (each client in turn, keep the one the guard criterion prefers)",
        ANCHORS,
    )
    iterations: int = option(0, "barycenter iterations: re-align every model to the fused model")
    refine: int = option(
        20, "weight-matching sweeps refining each model's maps from incoming and outgoing weights (0: off)"
    )
    repair: bool = option(True, "after fusion, repair activation statistics on server-held inputs")
    repair_method: str = option(
        "auto", "repair: auto (BatchNorm reset, REPAIR rescaling where no BatchNorm follows), reset_bn or rescale",
        REPAIR_METHODS,
    )
    output_weights: str = option(
        "select",
        "output layer: average with example counts, with per-class weights predicted from the models' "
        "outputs on server-held inputs, or select (both)",
        OUTPUT_WEIGHTS,
    )
    guard: bool = option(
        True,
        "also consider plain averaging and keep the candidate that agrees best with the most confident "
        "model's label on each server-held input (never worse than averaging on that criterion)",
    )

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            choices = field.metadata["choices"]
            value = getattr(self, field.name)
            if field.name == "anchor" and isinstance(value, int) and not isinstance(value, bool):
                continue  # a model index; its range is checked against the models
            if choices:
                _check_choice(field.name, value, choices)
        for name in ("iterations", "refine"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidOption(name, f"must be a non-negative integer, got {value!r}")
        for name in ("repair", "guard"):
            _check_flag(name, getattr(self, name))
        self.transport()

    def transport(self) -> TransportOptions:
        """The options that say how two models' neurons are coupled."""
        return TransportOptions(self.metric, self.squared, self.marginals, self.solver, self.reg)

    def reads_inputs(self) -> tuple[str, ...]:
        """The names of the options, as set, that read the server's unlabelled inputs."""
        reads = {
            "align": self.align in ("activations", "select"),
            "anchor": self.anchor == "select",
            "output_weights": self.output_weights in ("predicted", "select"),
            "guard": self.guard,
            "repair": self.repair,
        }
        return tuple(name for name, needed in reads.items() if needed)

    def data_free(self) -> Recipe:
        """This recipe with every input-reading choice replaced by its data-free counterpart.

        ``select`` alignment becomes weights, a ``select`` anchor the largest model, repair and
        guard go off and the output layer is averaged with example counts; explicit
        ``activations`` or ``predicted`` choices are kept (they then fail, naming themselves).
        """
        return self.replace(
            align="weights" if self.align == "select" else self.align,
            anchor="largest" if self.anchor == "select" else self.anchor,
            output_weights="examples" if self.output_weights == "select" else self.output_weights,
            repair=False,
            guard=False,
        )

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)


PAPER = Recipe(align="weights", anchor="largest", refine=0, repair=False, output_weights="examples", guard=False)
"""Singh & Jaggi's one-shot fusion: exact OT on weights into the largest client, plain averaging after."""


@dataclass(frozen=True)
class DistillRecipe:
    """Fuse-then-distill (:func:`fedot.fusion.distill.distill`) on the server's unlabelled inputs.

    Training, not fusion: results that use it are reported apart from pure fusion.
    """

    steps: int = option(100, "distillation steps (Adam) on the server-held inputs after aggregating")
    lr: float = option(1e-4, "distillation learning rate")
    target: str = option(
        "confident", "distillation target: the most confident client's softmax, or the clients' mean softmax",
        DISTILL_TARGETS,
    )
    temperature: float = option(1.0, "softmax temperature of the targets and the student")
    batch_size: int = option(64, "distillation batch size")

    def __post_init__(self) -> None:
        _check_choice("target", self.target, DISTILL_TARGETS)
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidOption(name, f"must be an integer ≥ 1, got {value!r}")
        for name in ("lr", "temperature"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
                raise InvalidOption(name, f"must be a finite number > 0, got {value!r}")
