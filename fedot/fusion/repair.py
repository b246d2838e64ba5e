"""Undo the variance collapse of averaged neurons, on a few batches of inputs.

Averaging aligned neurons that are not identical shrinks their pre-activations' spread. Two
remedies, applied in place to a fused model:

* :func:`reset_batchnorm_statistics` re-estimates every BatchNorm's running mean and variance.
* :func:`rescale_neurons` (REPAIR, Jordan et al. 2022) gives each fused neuron's pre-activation
  the mean and standard deviation of the weighted mean of its aligned parents' by rescaling the
  producing layer's weight rows and shifting its bias (layers without a bias are only rescaled).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.fx
from torch import Tensor, nn

from fedot.fusion.activations import channel_rows
from fedot.fusion.groups import Producer, Structure

Moments = Mapping[str, tuple[Tensor, Tensor]]


def reset_batchnorm_statistics(model: nn.Module, batches: Sequence[Tensor]) -> None:
    """Replace every BatchNorm's running statistics by their exact averages over ``batches``."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    modes = {module: module.training for module in model.modules()}
    momenta = {norm: norm.momentum for norm in norms}
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    with torch.no_grad():
        for x in batches:
            model(x)
    for norm, momentum in momenta.items():
        norm.momentum = momentum
    for module, training in modes.items():
        module.train(training)


def rescale_neurons(
    model: nn.Module,
    structure: Structure,
    targets: Moments,
    batches: Sequence[Tensor],
    producers: Sequence[Producer],
) -> None:
    """REPAIR ``producers`` of ``model`` in place so their outputs match ``targets`` on ``batches``.

    Producers are corrected in graph order within one forward pass over all batches (as one
    batch), each seeing the corrected outputs of the ones before it; ``targets`` maps a
    producer's node to the per-channel (mean, std) it should have.
    """
    if not producers:
        return
    modes = {module: module.training for module in model.modules()}
    model.eval()
    by_node = {p.node: p for p in producers}
    graph_module = torch.fx.GraphModule(model, structure.graph)
    with torch.no_grad():
        _Rescaler(graph_module, model, by_node, targets).run(torch.cat(list(batches)))
    for module, training in modes.items():
        module.train(training)


class _Rescaler(torch.fx.Interpreter):
    def __init__(self, graph_module: torch.fx.GraphModule, model: nn.Module, producers: Mapping[str, Producer], targets: Moments) -> None:
        super().__init__(graph_module)
        self.model, self.producers, self.targets = model, producers, targets

    def run_node(self, node: torch.fx.Node) -> object:
        output = super().run_node(node)
        producer = self.producers.get(node.name)
        if producer is None:
            return output
        rows = channel_rows(output, producer.axis).to(torch.float64)
        mean, std = rows.mean(1), rows.std(1, correction=0)
        target_mean, target_std = self.targets[node.name]
        scale = torch.where(std > 1e-8, target_std / std.clamp_min(1e-8), torch.ones_like(std))
        module = self.model.get_submodule(producer.module)
        shape = [1] * output.dim()
        shape[producer.axis] = -1
        weight_shape = [-1] + [1] * (module.weight.dim() - 1)
        module.weight.mul_(scale.to(module.weight.dtype).view(weight_shape))
        if getattr(module, "bias", None) is None:
            return output * scale.to(output.dtype).view(shape)
        shift = target_mean - mean * scale
        module.bias.mul_(scale.to(module.bias.dtype)).add_(shift.to(module.bias.dtype))
        return output * scale.to(output.dtype).view(shape) + shift.to(output.dtype).view(shape)
