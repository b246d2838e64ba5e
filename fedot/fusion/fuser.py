"""One fusion: align every model to an anchor, average the aligned tensors, repair — nothing chosen here.

:class:`Federation` holds what every fusion of one call shares (the models, their states
and shares, the server's inputs); :func:`fuse_into` makes the fusions into one anchor
with one alignment method, one per output-layer weighting (a *head*). The heads share
the alignment, by far the costliest step. Choosing among fusions is
:mod:`fedot.fusion.select`'s job.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from torch import Tensor, nn

from fedot.fusion.activations import ProducerProbe, producer_moments
from fedot.fusion.alignment import PLAN_MAKERS, Alignment, refine_plans
from fedot.fusion.checks import check_finite, group_sizes
from fedot.fusion.classes import class_shares, output_tensors
from fedot.fusion.repair import rescale_neurons, reset_batchnorm_statistics
from fedot.fusion.groups import Producer, Structure
from fedot.fusion.structure import neuron_groups
from fedot.fusion.transform import State, transport_state
from fedot.recipe import Recipe, TransportOptions

HEADS = ("examples", "predicted")
"""How the output layer is averaged: with the models' shares, or per class (:mod:`fedot.fusion.classes`)."""

Targets = dict[str, tuple[Tensor, Tensor]]
"""Per producer node, the (mean, std) per channel that REPAIR gives the fused model."""


@dataclass
class Federation:
    """The models one fusion call works on, with their shares (summing to 1) and the server's inputs."""

    models: Sequence[nn.Module]
    shares: Sequence[float]
    batches: list[Tensor] | None
    input_shape: Sequence[int] | None
    states: list[State] = field(init=False)

    def __post_init__(self) -> None:
        self.states = [state_of(model) for model in self.models]
        check_finite(self.states)

    @property
    def weighted(self) -> list[nn.Module]:
        """The models that count (a positive share)."""
        return [model for model, share in zip(self.models, self.shares) if share > 0]

    @cached_property
    def per_class(self) -> Tensor:
        """The (models × classes) output-layer weights of the ``"predicted"`` head."""
        return class_shares(self.models, self.shares, self.batches)

    def example_shape(self) -> Sequence[int] | None:
        if self.input_shape is not None:
            return self.input_shape
        return tuple(self.batches[0].shape[1:]) if self.batches else None


def fuse_into(
    federation: Federation, anchor: int, align: str, recipe: Recipe, heads: Sequence[str]
) -> dict[str, nn.Module]:
    """Fusions of ``federation`` into ``models[anchor]``, one per head, aligned by ``align``.

    ``align`` is ``"weights"``, ``"activations"`` or ``"none"`` (plain averaging); the rest of
    ``recipe`` says how (transport, refine, barycenter iterations, repair). Barycenter rounds
    re-align to a fused model that depends on the head, so then each head runs alone.
    """
    rounds = 0 if align == "none" else recipe.iterations  # without alignment every round is the same average
    if rounds and len(heads) > 1:
        return {head: fuse_into(federation, anchor, align, recipe, [head])[head] for head in heads}
    outputs = {head: copy.deepcopy(federation.models[anchor]) for head in heads}
    template = next(iter(outputs.values()))
    structure = neuron_groups(template, federation.example_shape())
    repair_batches = federation.batches if recipe.repair else None
    probe = ProducerProbe(template, structure) if align == "activations" or repair_batches else None
    fusion = _Rounds(federation, structure, anchor, align, recipe, probe)
    row_shares = [_output_row_shares(structure, template, federation, head) for head in heads]
    modes = training_modes(template)
    reference, reference_index = federation.states[anchor], anchor
    for round_index in range(rounds + 1):
        measure = repair_batches if round_index == rounds else None
        fused_states, targets = fusion.average(reference, reference_index, row_shares, measure)
        reference, reference_index = fused_states[0], None
    for fused, fused_state in zip(outputs.values(), fused_states):
        fused.load_state_dict(fused_state)
        if repair_batches is not None:
            _repair(fused, structure, targets, repair_batches, recipe.repair_method)
    restore_training_modes(modes)
    return outputs


class _Rounds:
    """One structure's alignments of every weighted model to a reference, and their weighted sums."""

    def __init__(
        self, federation: Federation, structure: Structure, anchor: int, align: str, recipe: Recipe,
        probe: ProducerProbe | None,
    ) -> None:  # fmt: skip
        self.federation = federation
        self.structure = structure
        self.align = align
        self.refine = recipe.refine
        self.options: TransportOptions = recipe.transport()
        self.probe = probe
        anchor_state = federation.states[anchor]
        self.sizes = [group_sizes(structure, state, anchor_state, index) for index, state in enumerate(federation.states)]

    def average(
        self,
        reference: State,
        reference_index: int | None,
        row_shares: Sequence[Mapping[str, Tensor] | None],
        repair_batches: list[Tensor] | None,
    ) -> tuple[list[State], Targets]:
        """Align every weighted model to ``reference`` once and average it once per entry of
        ``row_shares``; also the REPAIR targets on ``repair_batches`` (the same for every average).

        ``reference`` has the anchor's widths. An entry of ``row_shares`` maps a tensor name to a
        (models × rows) matrix of per-row weights along its axis 0 that replace the scalar shares
        for that tensor (the output layer's per-class weights); None averages every tensor with
        the shares.
        """
        totals: list[State | None] = [None] * len(row_shares)
        targets: Targets = {}
        for index, (state, share) in enumerate(zip(self.federation.states, self.federation.shares)):
            if share == 0:
                continue
            if index == reference_index or self.align == "none":
                aligned = state
            else:
                task = Alignment(
                    self.structure, state, self.sizes[index], reference, self.options, self.probe, self.federation.batches
                )
                aligned = align_state(task, self.align, self.refine)
            for head, by_tensor in enumerate(row_shares):
                rows = {name: matrix[index] for name, matrix in by_tensor.items()} if by_tensor else None
                totals[head] = weighted_sum([aligned], [share], base=reference, total=totals[head], row_shares=rows)
            if repair_batches is not None:
                for node, (mean, std) in producer_moments(self.probe, self.structure, aligned, repair_batches).items():
                    previous = targets.get(node, (0.0, 0.0))
                    targets[node] = (previous[0] + share * mean, previous[1] + share * std)
        return totals, targets


def plain_average(federation: Federation) -> nn.Module:
    """A new model holding the share-weighted mean of the federation's tensors (FedAvg); equal shapes assumed."""
    averaged = copy.deepcopy(federation.models[0])
    averaged.load_state_dict(weighted_sum(federation.states, federation.shares, base=federation.states[0]))
    return averaged


def align_state(task: Alignment, method: str, refine: int) -> State:
    """``task.state`` moved into ``task.reference``'s neuron order: plans by ``method``, refined."""
    plans = PLAN_MAKERS[method](task)
    if refine:
        plans = refine_plans(task, plans, refine)
    return transport_state(task.structure, task.state, plans, task.sizes)


def weighted_sum(
    states: Sequence[Mapping[str, Tensor]],
    shares: Sequence[float],
    base: Mapping[str, Tensor],
    total: State | None = None,
    row_shares: Mapping[str, Tensor] | None = None,
) -> State:
    """``total`` (updated in place) plus Σ share·state over floating tensors; other tensors are
    taken from ``base``. A tensor named in ``row_shares`` is weighted row by row (along axis 0)
    by that vector instead of ``share`` (only with one state). Never writes to ``states`` or ``base``."""
    result = total if total is not None else {}
    for name, base_tensor in base.items():
        if not base_tensor.is_floating_point():
            result[name] = base_tensor.clone()
            continue
        for state, share in zip(states, shares):
            if row_shares is not None and name in row_shares:
                vector = row_shares[name].to(state[name].device, state[name].dtype)
                term = state[name] * vector.view([-1] + [1] * (state[name].dim() - 1))
            else:
                term = state[name] * share
            if name in result:
                result[name].add_(term)
            else:
                result[name] = term
    return result


def _output_row_shares(structure: Structure, model: nn.Module, federation: Federation, head: str) -> dict[str, Tensor] | None:
    if head == "examples":
        return None
    per_class = federation.per_class
    return {name: per_class for name in output_tensors(structure, model)}


def _repair(fused: nn.Module, structure: Structure, targets: Targets, batches: list[Tensor], method: str) -> None:
    if method in ("auto", "reset_bn"):
        reset_batchnorm_statistics(fused, batches)
    if method == "reset_bn":
        return
    producers = [p for group in structure.free_groups for p in group.producers]
    shared = {p.module for p in producers if sum(q.module == p.module for q in producers) > 1}
    chosen = [
        p
        for p in producers
        if p.module not in shared
        and getattr(fused.get_submodule(p.module), "weight", None) is not None
        and (method == "rescale" or p.kind != "norm")
    ]
    rescale_neurons(fused, structure, targets, batches, _in_graph_order(structure, chosen))


def _in_graph_order(structure: Structure, producers: Sequence[Producer]) -> list[Producer]:
    position = {node.name: index for index, node in enumerate(structure.graph.nodes)}
    return sorted(producers, key=lambda p: position[p.node])


def state_of(model: nn.Module) -> State:
    return {name: tensor.detach() for name, tensor in model.state_dict().items()}


def training_modes(model: nn.Module) -> dict[nn.Module, bool]:
    return {module: module.training for module in model.modules()}


def restore_training_modes(modes: Mapping[nn.Module, bool]) -> None:
    for module, training in modes.items():
        module.train(training)
