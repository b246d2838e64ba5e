"""``fuse``, ``align`` and ``average``: the public operations on whole models."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from torch import nn

from fedot.fusion.activations import Inputs, ProducerProbe, as_batches
from fedot.fusion.alignment import Alignment
from fedot.fusion.checks import check_models, check_same_shapes, group_sizes, normalised_weights
from fedot.fusion.fuser import Federation, align_state, plain_average, restore_training_modes, training_modes
from fedot.fusion.select import Selection, select
from fedot.fusion.structure import neuron_groups
from fedot.recipe import Recipe


def fuse(
    models: Sequence[nn.Module],
    weights: Sequence[float] | None = None,
    *,
    inputs: Inputs | None = None,
    recipe: Recipe | None = None,
    input_shape: Sequence[int] | None = None,
) -> nn.Module:
    """Fuse ``models`` (one architecture, hidden widths may differ) into a new model, as ``recipe`` says.

    Every model's neurons are aligned to an anchor's by optimal transport (see :func:`align`),
    then the aligned parameters and BatchNorm statistics are averaged with ``weights`` (e.g.
    clients' example counts; normalised, uniform when None) and repaired. The result has the
    anchor's architecture and widths, so fusing into a narrower anchor compresses. Which
    tensor axes move together comes from the traced graph
    (:func:`~fedot.fusion.structure.neuron_groups`; ``input_shape`` is one example's shape,
    taken from ``inputs`` or the first layer when omitted).

    ``inputs`` are server-held, unlabelled examples (a tensor or an iterable of batches). Without
    ``recipe``, fedot's default :class:`~fedot.recipe.Recipe` is used — the one the OTFusion
    strategy uses — or its :meth:`~fedot.recipe.Recipe.data_free` form when ``inputs`` is None.
    A recipe whose options read inputs raises without them, naming the option.
    :func:`fuse_with_selection` returns which candidate a ``"select"`` or guarded recipe kept.

    Guarantees: the models are not modified; fusing copies of one model returns its function
    (whatever the recipe chooses); with exact OT, equal widths and a single non-zero weight the
    result computes that model's function. Raises ``ValueError`` for mismatched architectures
    (naming the first tensor whose shape does not fit), NaN/Inf parameters (naming the model),
    bad weights, fewer than two models, or a recipe option that needs ``inputs`` without them.
    """
    return fuse_with_selection(models, weights, inputs=inputs, recipe=recipe, input_shape=input_shape).model


def fuse_with_selection(
    models: Sequence[nn.Module],
    weights: Sequence[float] | None = None,
    *,
    inputs: Inputs | None = None,
    recipe: Recipe | None = None,
    input_shape: Sequence[int] | None = None,
) -> Selection:
    """:func:`fuse`, returning the :class:`~fedot.fusion.select.Selection`: the model, the name of the
    candidate kept, and every candidate's score. Models with weight 0 are skipped (never anchors)."""
    check_models(models)
    shares = normalised_weights(weights, len(models))
    batches = as_batches(inputs) if inputs is not None else None
    if recipe is None:
        recipe = Recipe() if batches is not None else Recipe().data_free()
    return select(Federation(models, shares, batches, input_shape), recipe)


def align(
    model: nn.Module,
    reference: nn.Module,
    *,
    inputs: Inputs | None = None,
    recipe: Recipe | None = None,
    input_shape: Sequence[int] | None = None,
) -> nn.Module:
    """``model`` transported into ``reference``'s neuron order (and widths), as a new model.

    Each neuron group gets a transport plan from ``model``'s neurons to ``reference``'s (the
    recipe's ``align`` — ``"weights"`` or ``"activations"`` on ``inputs`` — transport options
    and ``refine``; default: weights). A neuron's own parameters move by ``T·diag(1/β)`` (each
    reference neuron becomes a convex combination of model neurons) and its consumers' input
    columns by ``diag(1/α)·T`` (the weight on each model neuron is preserved). With exact OT
    and equal widths the plans are permutations and the result computes the same function as
    ``model``; with other widths or soft plans each reference neuron is a transport-weighted
    mix of ``model``'s neurons, which approximates ``model``'s function (exactly when merged
    neurons are duplicates). Neither model is modified.
    """
    check_models([model, reference])
    recipe = recipe if recipe is not None else Recipe().data_free()
    if recipe.align not in ("weights", "activations"):
        raise ValueError(f"align needs recipe.align 'weights' or 'activations', got {recipe.align!r}")
    batches = as_batches(inputs) if inputs is not None else None
    if recipe.align == "activations" and batches is None:
        raise ValueError("align='activations' needs inputs=: a tensor or batches of examples")
    federation = Federation([reference, model], [0.5, 0.5], batches, input_shape)
    reference_state, state = federation.states
    aligned = copy.deepcopy(reference)
    structure = neuron_groups(aligned, federation.example_shape())
    sizes = group_sizes(structure, state, reference_state, 1)
    modes = training_modes(aligned)
    probe = ProducerProbe(aligned, structure) if recipe.align == "activations" else None
    task = Alignment(structure, state, sizes, reference_state, recipe.transport(), probe, batches)
    aligned.load_state_dict(align_state(task, recipe.align, recipe.refine))
    restore_training_modes(modes)
    aligned.train(model.training)
    return aligned


def average(models: Sequence[nn.Module], weights: Sequence[float] | None = None) -> nn.Module:
    """The weighted average of ``models``' parameters and buffers, without alignment (FedAvg).

    All models must have identical tensor names and shapes. Integer buffers (BatchNorm's
    ``num_batches_tracked``) are taken from the first model. Returns a new model.
    """
    check_models(models)
    federation = Federation(models, normalised_weights(weights, len(models)), None, None)
    check_same_shapes(federation.states)
    return plain_average(federation)
