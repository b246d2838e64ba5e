"""Run state dicts through one architecture and read its neuron groups' pre-activations."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.fx
from torch import Tensor, nn
from torch.func import functional_call

from fedot.fusion.groups import Structure

Inputs = Tensor | Iterable[Tensor | Sequence[Tensor]]
"""A tensor of examples, or an iterable of batches (tensors or ``(x, y, …)`` tuples)."""

BATCH_SIZE = 256


def as_batches(inputs: Inputs) -> list[Tensor]:
    """The examples of ``inputs`` as a list of batches (a tensor is split into chunks)."""
    if isinstance(inputs, Tensor):
        return list(inputs.split(BATCH_SIZE))
    batches = [item if isinstance(item, Tensor) else item[0] for item in inputs]
    if not batches:
        raise ValueError("inputs holds no examples")
    return batches


@contextmanager
def eval_mode(models: Sequence[nn.Module]) -> Iterator[None]:
    """Put ``models`` in eval mode for a block; every submodule's mode is restored afterwards."""
    modes = [(module, module.training) for model in models for module in model.modules()]
    for model in models:
        model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.train(training)


def channel_rows(values: Tensor, axis: int) -> Tensor:
    """``values`` as one row per channel: ``(channels, batch · positions)``."""
    moved = values.movedim(axis, 0)
    return moved.reshape(moved.shape[0], -1)


class ProducerProbe:
    """Evaluates the architecture of ``template`` with any compatible state dict.

    Returns the outputs of the structure's producers (the groups' pre-activations), computed
    in eval mode without touching ``template``'s parameters: each call substitutes the given
    state (``torch.func.functional_call``), so states of other widths work too.
    """

    def __init__(self, template: nn.Module, structure: Structure) -> None:
        self.nodes = [p.node for g in structure.free_groups for p in g.producers]
        graph = torch.fx.Graph()
        value_of: dict[torch.fx.Node, torch.fx.Node] = {}
        graph.graph_copy(structure.graph, value_of)
        by_name = {node.name: value_of[node] for node in structure.graph.nodes if node.op != "output"}
        snapshots = []
        for name in self.nodes:  # copied at once: a later in-place op (ReLU(inplace=True)) would clobber it
            with graph.inserting_after(by_name[name]):
                snapshots.append(graph.call_method("clone", (by_name[name],)))
        graph.output(tuple(snapshots))
        self.module = torch.fx.GraphModule(template, graph)
        self.module.eval()

    def __call__(self, state: Mapping[str, Tensor], x: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():
            outputs = functional_call(self.module, dict(state), (x,))
        return dict(zip(self.nodes, outputs))


@dataclass
class ChannelMoments:
    """Running per-channel sums, giving each channel's mean and standard deviation."""

    count: int = 0
    total: Tensor | None = None
    total_sq: Tensor | None = None

    def add(self, rows: Tensor) -> None:
        rows = rows.to(torch.float64)
        self.count += rows.shape[1]
        sums, sums_sq = rows.sum(1), rows.square().sum(1)
        self.total = sums if self.total is None else self.total + sums
        self.total_sq = sums_sq if self.total_sq is None else self.total_sq + sums_sq

    def mean_std(self) -> tuple[Tensor, Tensor]:
        mean = self.total / self.count
        variance = (self.total_sq / self.count - mean.square()).clamp_min(0)
        return mean, variance.sqrt()


def producer_moments(
    probe: ProducerProbe, structure: Structure, state: Mapping[str, Tensor], batches: Sequence[Tensor]
) -> dict[str, tuple[Tensor, Tensor]]:
    """Per-channel mean and standard deviation of every producer's output on ``batches``."""
    axes = {p.node: p.axis for g in structure.free_groups for p in g.producers}
    moments = {node: ChannelMoments() for node in axes}
    for x in batches:
        for node, values in probe(state, x).items():
            moments[node].add(channel_rows(values, axes[node]))
    return {node: moment.mean_std() for node, moment in moments.items()}
