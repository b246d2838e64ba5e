"""Neuron groups derived from fx graphs: what belongs together, and clear refusals."""

import pytest
import torch
import torchvision
from torch import nn

from fedot.fusion import UnsupportedModelError, neuron_groups
from fedot.models import MODELS, MLPNet, ResNet18, SmallCNN, build_model


def _group_of(structure, tensor: str, axis: int) -> int:
    (aligned,) = [a for a in structure.axes_of(tensor) if a.axis == axis]
    (segment,) = aligned.segments
    return segment.group


def test_mlp_has_one_group_per_hidden_layer_and_fixed_ends() -> None:
    structure = neuron_groups(MLPNet((1, 8, 8), 10, hidden=(16, 8, 4)), (1, 8, 8))
    assert [g.size for g in structure.free_groups] == [16, 8, 4]
    assert [a.axis for a in structure.axes_of("net.1.weight")] == [0]  # the input stays in order
    assert [a.axis for a in structure.axes_of("net.7.weight")] == [1]  # so do the classes


def test_residual_branches_share_one_group() -> None:
    structure = neuron_groups(ResNet18(width=4), (3, 32, 32))
    assert len(structure.free_groups) == 12  # 4 residual streams + 8 block-internal groups
    stream = _group_of(structure, "conv1.weight", 0)
    assert _group_of(structure, "layers.0.0.conv2.weight", 0) == stream
    assert _group_of(structure, "layers.0.1.conv2.weight", 0) == stream
    assert _group_of(structure, "layers.0.1.conv1.weight", 1) == stream
    assert _group_of(structure, "layers.1.0.shortcut.0.weight", 1) == stream
    assert _group_of(structure, "layers.1.0.shortcut.0.weight", 0) == _group_of(structure, "layers.1.0.conv2.weight", 0)
    producers = structure.groups[stream].producers
    assert {p.module for p in producers} == {"bn1", "layers.0.0.bn2", "layers.0.1.bn2"}


def test_flatten_between_conv_and_linear_spans_each_channels_positions() -> None:
    structure = neuron_groups(SmallCNN((1, 28, 28), 10, width=4), (1, 28, 28))
    (aligned,) = [a for a in structure.axes_of("classifier.1.weight") if a.axis == 1]
    (segment,) = aligned.segments
    assert segment.block == 7 * 7
    assert segment.group == _group_of(structure, "features.3.weight", 0)


def test_batchnorm_vectors_join_their_channels() -> None:
    structure = neuron_groups(build_model("vgg11_bn", (3, 32, 32)), (3, 32, 32))
    conv = _group_of(structure, "features.0.weight", 0)
    for vector in ("weight", "bias", "running_mean", "running_var"):
        assert _group_of(structure, f"features.1.{vector}", 0) == conv
    assert structure.axes_of("features.1.num_batches_tracked") == ()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_has_groups(name: str) -> None:
    shape = (1, 8, 8) if name.startswith("mlp") else (3, 32, 32)
    structure = neuron_groups(build_model(name, shape), shape)
    assert structure.free_groups and all(g.producers for g in structure.free_groups)


@pytest.mark.parametrize("factory", [torchvision.models.vgg11, torchvision.models.vgg11_bn])
def test_torchvision_vgg_groups_include_its_wide_classifier(factory) -> None:
    with torch.device("meta"):  # the structure needs no parameter values
        model = factory(weights=None)
    structure = neuron_groups(model, (3, 32, 32))
    assert [g.size for g in structure.free_groups][-2:] == [4096, 4096]
    (aligned,) = [a for a in structure.axes_of("classifier.0.weight") if a.axis == 1]
    assert aligned.segments[0].block == 7 * 7


class _WithGroupNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.gn = nn.GroupNorm(2, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gn(self.conv(x)).mean((2, 3))


class _SortsFeatures(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Linear(4, 6))
        self.out = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.sort(self.block(x), dim=1).values)


class _GroupedConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 1)
        self.b = nn.Conv2d(8, 8, 3, groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)).sum((2, 3))


def test_unsupported_module_is_named() -> None:
    with pytest.raises(UnsupportedModelError, match=r"node `gn` \(module `gn`, GroupNorm\)"):
        neuron_groups(_WithGroupNorm(), (3, 8, 8))


def test_unsupported_function_is_named_with_its_module() -> None:
    with pytest.raises(UnsupportedModelError, match=r"node `sort` \(function `sort` in the top-level module\)"):
        neuron_groups(_SortsFeatures(), (4,))


def test_grouped_convolution_is_refused() -> None:
    with pytest.raises(UnsupportedModelError, match=r"module `b`.*groups=2"):
        neuron_groups(_GroupedConv(), (3, 8, 8))


def test_structure_leaves_the_model_untouched() -> None:
    model = build_model("cnn_bn", (1, 28, 28)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    neuron_groups(model, (1, 28, 28))
    assert model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name])
