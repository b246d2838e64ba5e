"""``fuse``, ``align`` and ``average``: the public operations on whole models."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor, nn

from fedot.fusion.activations import Inputs, ProducerProbe, as_batches, producer_moments
from fedot.fusion.alignment import activation_plans, refine_plans, weight_plans
from fedot.fusion.classes import class_shares, output_tensors
from fedot.fusion.checks import check_finite, check_models, check_same_shapes, group_sizes, normalised_weights
from fedot.fusion.guard import choose
from fedot.fusion.repair import rescale_neurons, reset_batchnorm_statistics
from fedot.fusion.structure import Producer, Structure, neuron_groups
from fedot.fusion.transform import State, transport_state
from fedot.fusion.transport import MarginalKind, Metric, Solver, TransportOptions

AlignBy = Literal["weights", "activations", "none", "select"]
Anchor = int | Literal["largest_weight", "select"]
RepairMethod = Literal["auto", "reset_bn", "rescale"]
OutputWeights = Literal["examples", "predicted", "select"]


def fuse(
    models: Sequence[nn.Module],
    weights: Sequence[float] | None = None,
    *,
    align: AlignBy = "weights",
    inputs: Inputs | None = None,
    solver: Solver = "exact",
    reg: float = 0.01,
    metric: Metric = "euclidean",
    squared: bool = False,
    marginals: MarginalKind = "uniform",
    anchor: Anchor = 0,
    iterations: int = 0,
    refine: int = 0,
    repair: Inputs | bool | None = None,
    repair_method: RepairMethod = "auto",
    output_weights: OutputWeights = "examples",
    guard: bool = False,
    input_shape: Sequence[int] | None = None,
    report: dict[str, Any] | None = None,
) -> nn.Module:
    """Fuse ``models`` (one architecture, hidden widths may differ) into a new model.

    Every model's neurons are aligned to the anchor's by optimal transport (see
    :func:`align`), then the aligned parameters and BatchNorm statistics are averaged with
    ``weights`` (e.g. clients' example counts; normalised, uniform when None). The result has
    the anchor's architecture and widths, so fusing into a narrower anchor compresses. Which
    tensor axes move together comes from the traced graph
    (:func:`~fedot.fusion.structure.neuron_groups`; ``input_shape`` is one example's shape,
    taken from ``inputs`` or the first layer when omitted): all branches of a residual sum
    share one map, whose cost sums their members' costs.

    ``inputs`` are server-held, unlabelled examples (a tensor or an iterable of batches); the
    options below that need data read them, and ``fuse`` raises when one is asked for without.

    * ``align``: ``"weights"`` compares incoming weights (no data needed); ``"activations"``
      compares pre-activations on ``inputs`` (BatchNorm in eval mode); ``"none"`` skips
      alignment (plain averaging, for equal widths — with ``repair`` this is FedAvg + REPAIR);
      ``"select"`` tries all three and keeps the result the guard criterion prefers.
      ``solver``, ``reg``, ``metric``, ``squared``, ``marginals``: see
      :class:`~fedot.fusion.transport.TransportOptions`.
    * ``anchor``: a model index, ``"largest_weight"``, or ``"select"`` — fuse into every model
      with a positive weight in turn and keep the result the guard criterion prefers.
    * ``refine`` > 0: up to that many sweeps of coordinate descent improve each model's plans,
      every group re-solved from all weights touching it, outgoing ones included ("weight
      matching", :func:`~fedot.fusion.alignment.refine_plans`); with exact OT, equal widths and
      ``squared=True`` every step lowers (or keeps) the total squared distance between the
      aligned model's tensors and the reference's.
    * ``iterations`` > 0 moves toward a barycenter: each round re-aligns every model to the
      current fused model and averages again (linear in N); this removes the anchor's privilege.
    * ``repair`` (True: use ``inputs``; or inputs of its own) counters variance collapse:
      ``repair_method="reset_bn"`` re-estimates BatchNorm statistics; ``"rescale"`` (REPAIR)
      gives every hidden pre-activation the weighted mean of its aligned parents' mean and
      std; ``"auto"`` resets BatchNorm statistics and rescales the layers no BatchNorm follows.
    * ``output_weights``: ``"examples"`` averages the output layer with ``weights`` like every
      other layer; ``"predicted"`` averages each class's output row with per-class weights
      estimated from the models' predictions on ``inputs``
      (:func:`~fedot.fusion.classes.class_shares`); ``"select"`` tries both.
    * ``guard=True`` adds the plain weighted average (FedAvg) as the baseline: the best other
      candidate is returned only if it agrees with the confident-client labels on ``inputs``
      significantly more often than the average does (:mod:`fedot.fusion.guard`), so the
      result is never worse than plain averaging on that criterion. ``"select"`` options pick
      the candidate with the highest agreement.

    ``report``, when a dict, receives ``"chosen"`` (the returned candidate's name) and
    ``"scores"`` (every candidate's :class:`~fedot.fusion.guard.Score`) when candidates were
    compared. Models with weight 0 are skipped (and never chosen as anchor).

    Guarantees: the models are not modified; fusing copies of one model returns its function
    (with or without guard and selection); with exact OT, equal widths and a single non-zero
    weight the result computes that model's function. Raises ``ValueError`` for mismatched
    architectures (naming the first tensor whose shape does not fit), NaN/Inf parameters
    (naming the model), bad weights or options, fewer than two models, or an option that
    needs ``inputs`` without them.
    """
    check_models(models)
    shares = normalised_weights(weights, len(models))
    settings = _Settings.create(
        align, inputs, solver, reg, metric, squared, marginals, repair_method, allow_none=True, refine=refine
    )
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    if output_weights not in ("examples", "predicted", "select"):
        raise ValueError(f"output_weights must be 'examples', 'predicted' or 'select', got {output_weights!r}")
    if not isinstance(guard, bool):
        raise ValueError(f"guard must be True or False (the guard reads inputs=), got {guard!r}")
    if not isinstance(repair, bool) and repair is not None and isinstance(repair, (int, float, str)):
        raise ValueError(f"repair must be True, False, None or inputs (a tensor or batches), got {repair!r}")
    _require_inputs(settings.batches, align=align, anchor=anchor, output_weights=output_weights, guard=guard, repair=repair)
    anchors = _anchor_indices(anchor, shares)
    states = [_state_of(model) for model in models]
    check_finite(states)
    if settings.by in ("none", "select") or guard:
        _check_equal_widths(states, f"align={settings.by!r}" if settings.by in ("none", "select") else "guard=True")
    if repair is True:
        repair_batches = settings.batches
    elif repair is None or repair is False:
        repair_batches = None
    else:
        repair_batches = as_batches(repair)
    heads = ("examples", "predicted") if output_weights == "select" else (output_weights,)
    per_class = class_shares(models, shares, settings.batches) if "predicted" in heads else None

    candidates: dict[str, nn.Module] = {}
    for by in ("weights", "activations", "none") if settings.by == "select" else (settings.by,):
        mode = dataclasses.replace(settings, by=by)
        for anchor_index in anchors[:1] if by == "none" else anchors:
            fusions = _fuse_into(
                models, states, shares, anchor_index, mode, iterations, repair_batches,
                [per_class if head == "predicted" else None for head in heads], input_shape,
            )  # fmt: skip
            for head, fused in zip(heads, fusions):
                name = "no alignment" if by == "none" else f"{by}, anchor {anchor_index}"
                candidates[name + (", predicted output weights" if head == "predicted" else "")] = fused
    if guard:
        candidates["plain average"] = average(models, shares)
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    weighted = [model for model, share in zip(models, shares) if share > 0]
    choice = choose(candidates, weighted, settings.batches, baseline="plain average" if guard else None)
    if report is not None:
        report["chosen"] = choice.name
        report["scores"] = choice.scores
    return choice.model


def _fuse_into(
    models: Sequence[nn.Module],
    states: Sequence[State],
    shares: Sequence[float],
    anchor_index: int,
    settings: _Settings,
    iterations: int,
    repair_batches: list[Tensor] | None,
    heads: Sequence[Tensor | None],
    input_shape: Sequence[int] | None,
) -> list[nn.Module]:
    """Fusions into ``models[anchor_index]`` (align, iterate, average, repair), one per entry of
    ``heads``: per-class output weights, or None for ``shares``.

    In a single round the heads share the alignment, by far the costliest step; barycenter
    rounds re-align to a fused model that depends on the head, so then each head runs alone.
    """
    rounds = 0 if settings.by == "none" else iterations  # without alignment every round is the same average
    if rounds and len(heads) > 1:
        return [
            fused
            for head in heads
            for fused in _fuse_into(
                models, states, shares, anchor_index, settings, iterations, repair_batches, [head], input_shape
            )
        ]
    outputs = [copy.deepcopy(models[anchor_index]) for _ in heads]
    template = outputs[0]
    structure = neuron_groups(template, _input_shape(input_shape, settings.batches or repair_batches))
    anchor_state = states[anchor_index]
    sizes = [group_sizes(structure, state, anchor_state, index) for index, state in enumerate(states)]
    row_shares = [_output_row_shares(structure, template, head) for head in heads]
    modes = _training_modes(template)
    needs_probe = settings.by == "activations" or repair_batches is not None
    probe = ProducerProbe(template, structure) if needs_probe else None

    reference, reference_index = anchor_state, anchor_index
    for round_index in range(rounds + 1):
        measure = repair_batches if round_index == rounds else None
        fused_states, targets = _fuse_round(
            structure, states, shares, sizes, reference, reference_index, settings, probe, measure, row_shares
        )
        reference, reference_index = fused_states[0], None
    for fused, fused_state in zip(outputs, fused_states):
        fused.load_state_dict(fused_state)
        if repair_batches is not None:
            _repair(fused, structure, targets, repair_batches, settings.repair_method)
    _restore_training_modes(modes)
    return outputs


def align(
    model: nn.Module,
    reference: nn.Module,
    *,
    align: AlignBy = "weights",
    inputs: Inputs | None = None,
    solver: Solver = "exact",
    reg: float = 0.01,
    metric: Metric = "euclidean",
    squared: bool = False,
    marginals: MarginalKind = "uniform",
    refine: int = 0,
    input_shape: Sequence[int] | None = None,
) -> nn.Module:
    """``model`` transported into ``reference``'s neuron order (and widths), as a new model.

    Each neuron group gets a transport plan from ``model``'s neurons to ``reference``'s; a
    neuron's own parameters move by ``T·diag(1/β)`` (each reference neuron becomes a convex
    combination of model neurons) and its consumers' input columns by ``diag(1/α)·T`` (the
    weight on each model neuron is preserved). With exact OT and equal widths the plans are
    permutations and the result computes the same function as ``model``; with other widths or
    soft plans each reference neuron is a transport-weighted mix of ``model``'s neurons, which
    approximates ``model``'s function (exactly when merged neurons are duplicates). Options as
    in :func:`fuse`. Neither model is modified.
    """
    check_models([model, reference])
    settings = _Settings.create(align, inputs, solver, reg, metric, squared, marginals, "auto", refine=refine)
    state, reference_state = _state_of(model), _state_of(reference)
    check_finite([reference_state, state])
    aligned = copy.deepcopy(reference)
    structure = neuron_groups(aligned, _input_shape(input_shape, settings.batches))
    sizes = group_sizes(structure, state, reference_state, 1)
    modes = _training_modes(aligned)
    probe = ProducerProbe(aligned, structure) if settings.by == "activations" else None
    moved = _aligned_state(structure, state, sizes, reference_state, settings, probe)
    aligned.load_state_dict(moved)
    _restore_training_modes(modes)
    aligned.train(model.training)
    return aligned


def average(models: Sequence[nn.Module], weights: Sequence[float] | None = None) -> nn.Module:
    """The weighted average of ``models``' parameters and buffers, without alignment (FedAvg).

    All models must have identical tensor names and shapes. Integer buffers (BatchNorm's
    ``num_batches_tracked``) are taken from the first model. Returns a new model.
    """
    check_models(models)
    shares = normalised_weights(weights, len(models))
    states = [_state_of(model) for model in models]
    check_same_shapes(states)
    check_finite(states)
    averaged = copy.deepcopy(models[0])
    averaged.load_state_dict(_weighted_sum(states, shares, base=states[0]))
    return averaged


@dataclass(frozen=True)
class _Settings:
    by: AlignBy
    batches: list[Tensor] | None
    transport: TransportOptions
    repair_method: RepairMethod
    refine: int = 0

    @staticmethod
    def create(
        by: str, inputs: Inputs | None, solver: str, reg: float, metric: str, squared: bool,
        marginals: str, repair_method: str, allow_none: bool = False, refine: int = 0,
    ) -> _Settings:  # fmt: skip
        choices = ("weights", "activations", "none", "select") if allow_none else ("weights", "activations")
        if by not in choices:
            raise ValueError(f"align must be {', '.join(map(repr, choices[:-1]))} or {choices[-1]!r}, got {by!r}")
        if by == "activations" and inputs is None:
            raise ValueError("align='activations' needs inputs=: a tensor or batches of examples")
        if repair_method not in ("auto", "reset_bn", "rescale"):
            raise ValueError(f"repair_method must be 'auto', 'reset_bn' or 'rescale', got {repair_method!r}")
        if not isinstance(refine, int) or isinstance(refine, bool) or refine < 0:
            raise ValueError(f"refine must be a non-negative integer (sweeps), got {refine!r}")
        options = TransportOptions(metric=metric, squared=squared, marginals=marginals, solver=solver, reg=reg)
        batches = as_batches(inputs) if inputs is not None else None
        return _Settings(by, batches, options, repair_method, refine)


def _fuse_round(
    structure: Structure,
    states: Sequence[State],
    shares: Sequence[float],
    sizes: Sequence[Mapping[int, int]],
    reference: State,
    reference_index: int | None,
    settings: _Settings,
    probe: ProducerProbe | None,
    repair_batches: list[Tensor] | None,
    row_shares: Sequence[Mapping[str, Tensor] | None],
) -> tuple[list[State], dict[str, tuple[Tensor, Tensor]]]:
    """Align every weighted model to ``reference`` once and average it once per entry of
    ``row_shares``; also the REPAIR targets (the same for every average).

    An entry of ``row_shares`` maps a tensor name to a (models × rows) matrix of per-row weights
    along its axis 0 that replace the scalar shares for that tensor (the output layer's
    per-class weights); None averages every tensor with ``shares``.
    """
    totals: list[State | None] = [None] * len(row_shares)
    targets: dict[str, tuple[Tensor, Tensor]] = {}
    for index, (state, share) in enumerate(zip(states, shares)):
        if share == 0:
            continue
        if index == reference_index or settings.by == "none":
            aligned = state
        else:
            aligned = _aligned_state(structure, state, sizes[index], reference, settings, probe)
        for head, by_tensor in enumerate(row_shares):
            rows = {name: matrix[index] for name, matrix in by_tensor.items()} if by_tensor else None
            totals[head] = _weighted_sum([aligned], [share], base=reference, total=totals[head], row_shares=rows)
        if repair_batches is not None:
            for node, (mean, std) in producer_moments(probe, structure, aligned, repair_batches).items():
                previous = targets.get(node, (0.0, 0.0))
                targets[node] = (previous[0] + share * mean, previous[1] + share * std)
    return totals, targets


def _aligned_state(
    structure: Structure,
    state: State,
    sizes: Mapping[int, int],
    reference: State,
    settings: _Settings,
    probe: ProducerProbe | None,
) -> State:
    if settings.by == "weights":
        plans = weight_plans(structure, state, reference, sizes, settings.transport)
    else:
        plans = activation_plans(probe, structure, state, reference, settings.batches, settings.transport)
    if settings.refine:
        plans = refine_plans(structure, state, reference, sizes, plans, settings.transport, settings.refine)
    return transport_state(structure, state, plans, sizes)


def _weighted_sum(
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


def _output_row_shares(structure: Structure, model: nn.Module, per_class: Tensor | None) -> dict[str, Tensor] | None:
    if per_class is None:
        return None
    return {name: per_class for name in output_tensors(structure, model)}


def _repair(
    fused: nn.Module, structure: Structure, targets: dict[str, tuple[Tensor, Tensor]], batches: list[Tensor], method: RepairMethod
) -> None:
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


def _anchor_indices(anchor: Anchor, shares: Sequence[float]) -> list[int]:
    if anchor == "select":
        return [index for index, share in enumerate(shares) if share > 0]
    if anchor == "largest_weight":
        return [max(range(len(shares)), key=lambda index: shares[index])]
    if isinstance(anchor, bool) or not isinstance(anchor, int) or not -len(shares) <= anchor < len(shares):
        raise ValueError(
            f"anchor must be a model index below {len(shares)}, 'largest_weight' or 'select', got {anchor!r}"
        )
    return [anchor % len(shares)]


def options_reading_inputs(
    *, align: str, anchor: object, output_weights: str, guard: bool, repair: object
) -> list[str]:
    """The names of the :func:`fuse` options, as set, that read ``inputs`` (``repair=True``
    reads them; inputs of its own do not). The one rule the strategy and the CLI check too."""
    reads = {
        "align": align in ("activations", "select"),
        "anchor": anchor == "select",
        "output_weights": output_weights in ("predicted", "select"),
        "guard": guard is True,
        "repair": repair is True,
    }
    return [name for name, needed in reads.items() if needed]


def _require_inputs(batches: list[Tensor] | None, **options: Any) -> None:
    """Raise naming the first option that reads server-held inputs when there are none."""
    if batches is None and (names := options_reading_inputs(**options)):
        raise ValueError(
            f"{names[0]}={options[names[0]]!r} reads server-held examples: pass inputs= (a tensor or batches)"
        )


def _check_equal_widths(states: Sequence[State], option: str) -> None:
    try:
        check_same_shapes(states)
    except ValueError as error:
        raise ValueError(f"{option} needs models of equal widths (plain averaging): {error}") from None


def _input_shape(input_shape: Sequence[int] | None, batches: list[Tensor] | None) -> Sequence[int] | None:
    if input_shape is not None:
        return input_shape
    return tuple(batches[0].shape[1:]) if batches else None


def _state_of(model: nn.Module) -> State:
    return {name: tensor.detach() for name, tensor in model.state_dict().items()}


def _training_modes(model: nn.Module) -> dict[nn.Module, bool]:
    return {module: module.training for module in model.modules()}


def _restore_training_modes(modes: Mapping[nn.Module, bool]) -> None:
    for module, training in modes.items():
        module.train(training)
