"""Move state-dict tensors into a reference's neuron order, given one plan per neuron group."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from fedot.fusion.groups import AlignedAxis, Structure
from fedot.fusion.transport import TransportPlan

State = dict[str, Tensor]
Plans = Mapping[int, TransportPlan]


def transport_state(structure: Structure, state: Mapping[str, Tensor], plans: Plans, sizes: Mapping[int, int]) -> State:
    """Every tensor of ``state`` with its aligned axes moved by ``plans``.

    ``sizes`` are the model's group sizes (they differ from the reference's when widths
    differ). Tensors without aligned axes are returned as they are (not copied).
    """
    moved: State = {}
    for name, tensor in state.items():
        for axis in structure.axes_of(name):
            tensor = transport_axis(tensor, axis, plans, sizes)
        moved[name] = tensor
    return moved


def transport_axis(tensor: Tensor, axis: AlignedAxis, plans: Plans, sizes: Mapping[int, int]) -> Tensor:
    """``tensor`` with one aligned axis moved; segments without a plan stay where they are."""
    pieces, offset, changed = [], 0, False
    for segment in axis.segments:
        length = sizes[segment.group] * segment.block
        piece = tensor.narrow(axis.axis, offset, length)
        offset += length
        plan = plans.get(segment.group)
        if plan is not None:
            piece = _move_neurons(piece, axis.axis, segment.block, plan, axis.incoming)
            changed = True
        pieces.append(piece)
    if not changed:
        return tensor
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=axis.axis)


def _move_neurons(piece: Tensor, dim: int, block: int, plan: TransportPlan, incoming: bool) -> Tensor:
    if plan.permutation is not None:
        permutation = plan.permutation.to(piece.device)
        if torch.equal(permutation, torch.arange(len(permutation), device=piece.device)):
            return piece
        index = (permutation[:, None] * block + torch.arange(block, device=piece.device)).reshape(-1)
        return piece.index_select(dim, index)
    matrix = (plan.incoming() if incoming else plan.outgoing()).to(piece.device, piece.dtype)
    n_model, n_reference = matrix.shape
    moved = piece.movedim(dim, 0)
    rest = moved.shape[1:]
    rows = moved.reshape(n_model, -1)
    result = (matrix.T @ rows).reshape(n_reference * block, *rest)
    return result.movedim(0, dim)
