"""Shared helpers for the fusion tests: small models and consistent random permutations."""

from __future__ import annotations

import copy

import torch
from torch import nn

from fedot.fusion import neuron_groups


class Branchy(nn.Module):
    """A toy net exercising the less common rules: channel concat, depthwise conv, a per-channel
    parameter, PReLU, squeeze-excitation gating, a reduction, a view-flatten and a residual."""

    def __init__(self, channels: int = 6, classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.left = nn.Conv2d(channels, channels, 3, padding=1)
        self.right = nn.Conv2d(channels, 4, 1)
        self.depthwise = nn.Conv2d(channels + 4, channels + 4, 3, padding=1, groups=channels + 4)
        self.norm = nn.BatchNorm2d(channels + 4)
        self.act = nn.PReLU(channels + 4)
        self.scale = nn.Parameter(torch.rand(1, channels + 4, 1, 1) + 0.5)
        self.mix = nn.Conv2d(channels + 4, channels, 1)
        self.gate = nn.Linear(channels, channels)
        self.head = nn.Linear(channels * 4 * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.log1p(x.abs())  # an op on the input only: allowed, the input is fixed
        h = torch.relu(self.stem(x))
        y = torch.cat([torch.relu(self.left(h)), torch.sigmoid(self.right(h))], dim=1)
        y = self.mix(self.act(self.norm(self.depthwise(y))) * self.scale)
        gate = torch.sigmoid(self.gate(y.mean((2, 3))))
        y = y * gate[:, :, None, None] + h
        y = nn.functional.adaptive_avg_pool2d(y, 4)
        return self.head(y.view(y.size(0), -1))


def randomise_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial affine parameters and running statistics (in place)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                shape = module.running_mean.shape
                module.running_mean.copy_(torch.randn(shape, generator=generator))
                module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
                module.weight.copy_(torch.randn(shape, generator=generator))
                module.bias.copy_(torch.randn(shape, generator=generator))
    return model


def permuted_copy(model: nn.Module, input_shape: tuple[int, ...], seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose hidden neurons are randomly permuted, group by group.

    Applies the permutations itself (from the public :class:`Structure`), independently of the
    fusion engine's transform code.
    """
    structure = neuron_groups(model, input_shape)
    generator = torch.Generator().manual_seed(seed)
    permutations = {
        group.index: torch.randperm(group.size, generator=generator) for group in structure.free_groups
    }
    state = model.state_dict()
    for axis in structure.axes:
        tensor, pieces, offset = state[axis.tensor], [], 0
        for segment in axis.segments:
            size = structure.groups[segment.group].size
            piece = tensor.narrow(axis.axis, offset, size * segment.block)
            offset += size * segment.block
            order = permutations.get(segment.group)
            if order is not None:
                index = (order[:, None] * segment.block + torch.arange(segment.block)).reshape(-1)
                piece = piece.index_select(axis.axis, index)
            pieces.append(piece)
        state[axis.tensor] = torch.cat(pieces, dim=axis.axis)
    result = copy.deepcopy(model)
    result.load_state_dict(state)
    return result


def max_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()
