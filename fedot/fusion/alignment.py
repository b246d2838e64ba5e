"""Transport plans that align one model's neuron groups with a reference's.

Two ground metrics:

* **weights** — a neuron is its incoming weights and bias (the rows of every Linear/Conv in its
  group). Groups are solved in graph order, and before rows are compared their input columns
  are moved by the plans already found (the paper's "past correction"). A member whose input
  group is not solved yet (the later blocks feeding a residual sum) is left out of that group's
  cost; the other members' rows are concatenated (for squared Euclidean: costs summed).
* **activations** — a neuron is its pre-activation values on shared inputs (every producer of
  the group, summed); the cost is accumulated over batches from inner products.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from fedot.fusion.activations import ProducerProbe, channel_rows
from fedot.fusion.groups import AlignedAxis, NeuronGroup, Structure
from fedot.fusion.transform import transport_axis
from fedot.fusion.transport import RowSums, TransportPlan, cost_from_sums, neuron_marginals, transport_plan
from fedot.recipe import TransportOptions

Plans = dict[int, TransportPlan]


@dataclass(frozen=True)
class Alignment:
    """One model to align to a reference: what every plan maker reads.

    ``sizes`` are ``state``'s group widths; ``reference`` has the structure's widths. ``probe``
    and ``batches`` (the server's inputs) are needed by activation alignment only.
    """

    structure: Structure
    state: Mapping[str, Tensor]
    sizes: Mapping[int, int]
    reference: Mapping[str, Tensor]
    options: TransportOptions
    probe: ProducerProbe | None = None
    batches: Sequence[Tensor] | None = None


def weight_plans(task: Alignment) -> Plans:
    """One plan per free group, from incoming weights with past correction."""
    structure, state, reference, sizes = task.structure, task.state, task.reference, task.sizes
    reference_sizes = {group.index: group.size for group in structure.groups}
    plans: dict[int, TransportPlan] = {}
    for group in structure.free_groups:
        terms: RowSums | None = None
        for axis in structure.axes:
            if axis.incoming or not axis.describes_neuron or group.index not in _groups_on(axis):
                continue
            rows = _neuron_rows(structure, axis, group, state, sizes, plans)
            if rows is None:
                continue
            reference_rows = _neuron_rows(structure, axis, group, reference, reference_sizes, None)
            terms = _accumulate(terms, rows, reference_rows)
        if terms is None:
            raise ValueError(
                f"cannot align neuron group {group.index} from weights: every layer producing it "
                "reads a group that is not aligned yet; use align='activations'"
            )
        plans[group.index] = _plan(terms, task.options)
    return plans


def activation_plans(task: Alignment) -> Plans:
    """One plan per free group, from pre-activations of ``state`` and ``reference`` on ``batches``."""
    structure, probe = task.structure, task.probe
    if probe is None or not task.batches:
        raise ValueError("align='activations' needs inputs=: a tensor or batches of examples")
    sums: dict[int, RowSums] = {}
    for x in task.batches:
        outputs, reference_outputs = probe(task.state, x), probe(task.reference, x)
        for group in structure.free_groups:
            for producer in group.producers:
                rows = channel_rows(outputs[producer.node], producer.axis).to(torch.float64)
                reference_rows = channel_rows(reference_outputs[producer.node], producer.axis).to(torch.float64)
                sums[group.index] = _accumulate(sums.get(group.index), rows, reference_rows)
    plans = {}
    for group in structure.free_groups:
        if group.index not in sums:
            raise ValueError(f"neuron group {group.index} has no Linear, Conv or BatchNorm output to measure")
        plans[group.index] = _plan(sums[group.index], task.options)
    return plans


PlanMaker = Callable[[Alignment], Plans]
PLAN_MAKERS: dict[str, PlanMaker] = {"weights": weight_plans, "activations": activation_plans}
"""How each alignment method (``Recipe.align``) makes a model's plans; ``"none"`` makes none."""


def refine_plans(task: Alignment, plans: Mapping[int, TransportPlan], sweeps: int, seed: int = 0) -> Plans:
    """``plans`` improved by coordinate descent over the groups ("weight matching", Ainsworth et al. 2023).

    Each sweep visits the free groups in a seeded random order and recomputes one group's plan
    from *every* tensor axis on that group — its neurons' rows and BatchNorm vectors, and its
    consumers' input columns — with every other axis moved by the current plans; the cost
    between the model's and the reference's entries is ``options``' metric. Greedy forward
    alignment sees only incoming weights; this also lets the outgoing weights vote. Stops after
    ``sweeps`` sweeps or the first sweep that changes no plan; a group whose only axes are
    shared with itself keeps its plan.
    """
    structure, state, reference, sizes = task.structure, task.state, task.reference, task.sizes
    current = dict(plans)
    reference_sizes = {group.index: group.size for group in structure.groups}
    generator = torch.Generator().manual_seed(seed)
    groups = list(structure.free_groups)
    for _ in range(sweeps):
        changed = False
        for position in torch.randperm(len(groups), generator=generator).tolist():
            group = groups[position]
            others = {index: plan for index, plan in current.items() if index != group.index}
            terms: RowSums | None = None
            for axis in structure.axes:
                if group.index not in _groups_on(axis):
                    continue
                rows = _group_rows(structure, axis, group, state, sizes, others)
                reference_rows = _group_rows(structure, axis, group, reference, reference_sizes, {})
                terms = _accumulate(terms, rows, reference_rows)
            if terms is None:
                continue
            plan = _plan(terms, task.options)
            changed = changed or not _same_plan(plan, current.get(group.index))
            current[group.index] = plan
        if not changed:
            break
    return current


def _group_rows(
    structure: Structure,
    axis: AlignedAxis,
    group: NeuronGroup,
    state: Mapping[str, Tensor],
    sizes: Mapping[int, int],
    plans: Mapping[int, TransportPlan],
) -> Tensor:
    """``group``'s entries on ``axis`` as rows (one per neuron), the tensor's other axes moved by ``plans``."""
    tensor = state[axis.tensor]
    for other in structure.axes_of(axis.tensor):
        if other.axis != axis.axis:
            tensor = transport_axis(tensor, other, plans, sizes)
    return _segment_rows(tensor, axis, group.index, sizes).to(torch.float64)


def _same_plan(plan: TransportPlan, previous: TransportPlan | None) -> bool:
    if previous is None:
        return False
    if plan.permutation is not None and previous.permutation is not None:
        return torch.equal(plan.permutation, previous.permutation)
    return torch.allclose(plan.coupling, previous.coupling, atol=1e-9)


def _accumulate(terms: RowSums | None, rows: Tensor, reference_rows: Tensor) -> RowSums:
    """Add the :class:`RowSums` of ``rows`` against ``reference_rows`` to ``terms``.

    Summing these over a group's members (or batches) gives the cost of their concatenated
    features without building the concatenation.
    """
    new = RowSums.of(rows, reference_rows)
    return new if terms is None else terms + new


def _plan(sums: RowSums, options: TransportOptions) -> TransportPlan:
    cost = cost_from_sums(sums, metric=options.metric, squared=options.squared)
    a = neuron_marginals(sums.sq_x.sqrt(), options.marginals)
    b = neuron_marginals(sums.sq_y.sqrt(), options.marginals)
    return transport_plan(cost, a, b, solver=options.solver, reg=options.reg)


def _groups_on(axis: AlignedAxis) -> set[int]:
    return {segment.group for segment in axis.segments}


def _neuron_rows(
    structure: Structure,
    axis: AlignedAxis,
    group: NeuronGroup,
    state: Mapping[str, Tensor],
    sizes: Mapping[int, int],
    plans: Mapping[int, TransportPlan] | None,
) -> Tensor | None:
    """The rows of ``group``'s neurons on ``axis``, other axes moved by ``plans`` (None: as is).

    Returns None when another axis of the tensor belongs to a free group not yet in ``plans``.
    """
    tensor = state[axis.tensor]
    if plans is not None:
        for other in structure.axes_of(axis.tensor):
            if other.axis == axis.axis:
                continue
            free = {g for g in _groups_on(other) if not structure.groups[g].fixed}
            if not free <= plans.keys():
                return None
            tensor = transport_axis(tensor, other, plans, sizes)
    return _segment_rows(tensor, axis, group.index, sizes).to(torch.float32)


def _segment_rows(tensor: Tensor, axis: AlignedAxis, group: int, sizes: Mapping[int, int]) -> Tensor:
    """The slice of ``tensor`` along ``axis`` that belongs to ``group``, one row per neuron."""
    offset = 0
    for segment in axis.segments:
        length = sizes[segment.group] * segment.block
        if segment.group == group:
            piece = tensor.narrow(axis.axis, offset, length).movedim(axis.axis, 0)
            return piece.reshape(sizes[group], -1)
        offset += length
    raise AssertionError(f"group {group} is not on {axis.tensor} axis {axis.axis}")
