"""What a structure derivation produces: neuron groups and the tensor axes they act on, as plain data.

Read by every part of the fusion engine; made by :func:`fedot.fusion.structure.neuron_groups`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.fx


@dataclass(frozen=True)
class Segment:
    """A run of one group's neurons along an axis; each neuron spans ``block`` entries."""

    group: int
    block: int


@dataclass(frozen=True)
class AlignedAxis:
    """One axis of one state-dict tensor, laid out as groups' neurons side by side.

    ``incoming`` axes are a consumer's inputs (columns); the others hold the neurons' own
    parameters. ``describes_neuron`` marks Linear/Conv weight rows and biases: the features
    weight-based alignment compares.
    """

    tensor: str
    axis: int
    segments: tuple[Segment, ...]
    incoming: bool
    describes_neuron: bool


ProducerKind = Literal["linear", "conv", "norm"]


@dataclass(frozen=True)
class Producer:
    """A graph node whose output is a group's pre-activation (a Linear/Conv/BatchNorm output).

    A Linear or Conv read only by a BatchNorm is represented by that BatchNorm.
    """

    node: str
    module: str
    kind: ProducerKind
    axis: int


@dataclass(frozen=True)
class NeuronGroup:
    """Neurons that move together; ``fixed`` groups (inputs, outputs) keep their order."""

    index: int
    size: int
    fixed: bool
    producers: tuple[Producer, ...]


@dataclass(frozen=True)
class Structure:
    """The neuron groups of one architecture (sizes are those of the traced model)."""

    groups: tuple[NeuronGroup, ...]
    axes: tuple[AlignedAxis, ...]
    graph: torch.fx.Graph

    def axes_of(self, tensor: str) -> tuple[AlignedAxis, ...]:
        """The aligned axes of one state-dict tensor (empty when none of its axes moves)."""
        return tuple(axis for axis in self.axes if axis.tensor == tensor)

    @property
    def free_groups(self) -> tuple[NeuronGroup, ...]:
        """The groups that get a transport map, in graph order."""
        return tuple(group for group in self.groups if not group.fixed)
