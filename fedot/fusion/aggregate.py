"""Run an :class:`~fedot.aggregation.Aggregation` on the clients' models: fuse or average, then distill."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from fedot.aggregation import Aggregation
from fedot.fusion.api import average, fuse_with_selection
from fedot.fusion.distill import distill
from fedot.fusion.select import Selection


@dataclass(frozen=True)
class Aggregate:
    """The global model, and the fusion's selection when a recipe chose among candidates."""

    model: nn.Module
    selection: Selection | None = None


def aggregate(
    aggregation: Aggregation, models: Sequence[nn.Module], weights: Sequence[float], inputs: Sequence[Tensor] | None
) -> Aggregate:
    """The global model ``aggregation`` makes of ``models`` (weighted by ``weights``, e.g. example counts).

    ``inputs`` are the server's unlabelled batches; fusion reads them where its recipe asks,
    distillation always. A single model is taken as it is (then distilled when asked).
    """
    if aggregation.reads_inputs() and not inputs:
        raise ValueError(f"{aggregation.name} needs server-held inputs: set server-samples > 0")
    selection = None
    if len(models) == 1:
        model = models[0]
    elif aggregation.fusion is None:
        model = average(models, weights)
    else:
        reads = bool(aggregation.fusion.reads_inputs())
        selection = fuse_with_selection(models, weights, inputs=list(inputs) if reads else None, recipe=aggregation.fusion)
        model = selection.model
    if aggregation.distillation is not None:
        model = distill(model, models, weights, inputs=list(inputs), recipe=aggregation.distillation)
    return Aggregate(model, selection if selection is not None and selection.scores else None)
