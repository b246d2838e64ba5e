"""Validation of fusion inputs, with errors that name the model and parameter at fault."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from fedot.fusion.groups import Structure


def check_models(models: Sequence[nn.Module], minimum: int = 2) -> None:
    """At least ``minimum`` models, all ``nn.Module``."""
    if isinstance(models, nn.Module) or len(models) < minimum:
        count = 1 if isinstance(models, nn.Module) else len(models)
        raise ValueError(f"fusion needs at least {minimum} models, got {count}")
    for index, model in enumerate(models):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model {index} is a {type(model).__name__}, not a torch.nn.Module")


def normalised_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    """``weights`` scaled to sum to 1 (uniform when None); they must be finite, ≥ 0, not all 0."""
    if weights is None:
        return [1.0 / count] * count
    values = [float(w) for w in weights]
    if len(values) != count:
        raise ValueError(f"got {len(values)} weights for {count} models")
    for index, value in enumerate(values):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"weight {index} is {value}; weights must be finite and non-negative")
    total = sum(values)
    if total <= 0:
        raise ValueError("all weights are zero; at least one model must have a positive weight")
    return [value / total for value in values]


def check_finite(states: Sequence[Mapping[str, Tensor]]) -> None:
    """Raise naming the first model (by index) and tensor holding NaN or Inf."""
    for index, state in enumerate(states):
        for name, tensor in state.items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"model {index} has non-finite values (NaN or Inf) in `{name}`")


def check_same_names(state: Mapping[str, Tensor], reference: Mapping[str, Tensor], index: int) -> None:
    """``state`` holds exactly the tensors of ``reference``."""
    for name in reference:
        if name not in state:
            raise ValueError(f"model {index} has no `{name}`; all models must share one architecture")
    for name in state:
        if name not in reference:
            raise ValueError(f"model {index} has an unexpected `{name}`; all models must share one architecture")


def check_same_shapes(states: Sequence[Mapping[str, Tensor]]) -> None:
    """Every state has the tensors of the first, with the same shapes."""
    reference = states[0]
    for index, state in enumerate(states[1:], start=1):
        check_same_names(state, reference, index)
        for name, tensor in reference.items():
            if state[name].shape != tensor.shape:
                raise _shape_error(index, name, state[name], tuple(tensor.shape))


def group_sizes(structure: Structure, state: Mapping[str, Tensor], reference: Mapping[str, Tensor], index: int) -> dict[int, int]:
    """The widths of ``state``'s neuron groups, checking every tensor's shape against them.

    Free groups may be wider or narrower than in ``reference``; every other axis, and the
    fixed groups (inputs, outputs), must match ``reference`` exactly. Raises ``ValueError``
    naming the first tensor (in state-dict order) whose shape does not fit.
    """
    check_same_names(state, reference, index)
    sizes = {group.index: group.size for group in structure.groups if group.fixed}
    for name, reference_tensor in reference.items():
        tensor = state[name]
        expected = list(reference_tensor.shape)
        if tensor.dim() == reference_tensor.dim():
            for axis in structure.axes_of(name):
                _learn_size(axis.segments, tensor.shape[axis.axis], sizes)
                if all(segment.group in sizes for segment in axis.segments):
                    expected[axis.axis] = sum(sizes[s.group] * s.block for s in axis.segments)
        if tuple(tensor.shape) != tuple(expected):
            raise _shape_error(index, name, tensor, tuple(expected))
    return sizes


def _learn_size(segments: Sequence, extent: int, sizes: dict[int, int]) -> None:
    unknown = {segment.group for segment in segments if segment.group not in sizes}
    if len(unknown) != 1:
        return
    (group,) = unknown
    known = sum(sizes[s.group] * s.block for s in segments if s.group in sizes)
    blocks = sum(s.block for s in segments if s.group == group)
    if extent > known and (extent - known) % blocks == 0:
        sizes[group] = (extent - known) // blocks


def _shape_error(index: int, name: str, tensor: Tensor, expected: tuple[int, ...]) -> ValueError:
    return ValueError(f"model {index} has `{name}` with shape {tuple(tensor.shape)}, expected {expected}")
