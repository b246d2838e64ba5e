"""fuse / align / average behaviour: widths, repair, averaging, and never touching the inputs."""

import copy

import pytest
import torch
from torch import nn

from fusion_helpers import max_difference, randomise_batchnorm
from fedot.fusion import PAPER, align, average, fuse
from fedot.models import VGG11, MLPNet, ResNet18, SmallCNN


def _mlp(hidden: tuple[int, ...], seed: int, bias: bool = True) -> MLPNet:
    torch.manual_seed(seed)
    return MLPNet((1, 8, 8), 5, hidden=hidden, bias=bias).eval()


def _duplicated(model: MLPNet) -> MLPNet:
    """``model`` with every hidden neuron present twice: twice as wide, the same function."""
    wide = MLPNet((1, 8, 8), 5, hidden=tuple(2 * layer.out_features for layer in model.net[1:-1:2]))
    layers = [m for m in model.net if isinstance(m, nn.Linear)]
    wide_layers = [m for m in wide.net if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for index, (layer, target) in enumerate(zip(layers, wide_layers)):
            weight, bias = layer.weight, layer.bias
            if index < len(layers) - 1:
                weight, bias = weight.repeat(2, 1), bias.repeat(2)
            if index > 0:
                weight = weight.repeat(1, 2) / 2
            target.weight.copy_(weight)
            target.bias.copy_(bias)
    return wide.eval()


X = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(7))


def test_fusing_into_a_narrower_anchor_gives_its_shapes_and_a_working_model() -> None:
    wide, narrow = _mlp((32, 16, 8), 1), _mlp((12, 6, 4), 2)
    fused = fuse([wide, narrow], recipe=PAPER.replace(anchor=1))
    assert [p.shape for p in fused.parameters()] == [p.shape for p in narrow.parameters()]
    assert torch.isfinite(fused(X)).all()
    assert [p.shape for p in fuse([wide, narrow], [3, 1], recipe=PAPER).parameters()] == [
        p.shape for p in wide.parameters()
    ]


@pytest.mark.parametrize("mode", ["weights", "activations"])
def test_merging_duplicated_neurons_keeps_the_function(mode: str) -> None:
    small = _mlp((12, 6, 4), 3)
    wide = _duplicated(small)
    assert max_difference(wide(X), small(X)) < 1e-5
    inputs = X if mode == "activations" else None
    compressed = align(wide, small, inputs=inputs, recipe=PAPER.replace(align=mode))  # 2n neurons into n
    expanded = align(small, wide, inputs=inputs, recipe=PAPER.replace(align=mode))  # n neurons into 2n
    torch.testing.assert_close(compressed(X), small(X), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(expanded(X), small(X), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda width, seed: SmallCNN((1, 12, 12), 5, width=width, batch_norm=True),
        lambda width, seed: ResNet18((3, 16, 16), 5, width=width),
        lambda width, seed: VGG11((3, 32, 32), 5, batch_norm=True, width_multiplier=width / 64),
    ],
    ids=["cnn_bn", "resnet18", "vgg11_bn"],
)
def test_width_changing_fusion_of_conv_nets(make) -> None:
    torch.manual_seed(0)
    wide, narrow = make(8, 0).eval(), make(4, 1).eval()
    shape = {SmallCNN: (1, 12, 12), ResNet18: (3, 16, 16), VGG11: (3, 32, 32)}[type(wide)]
    x = torch.randn(8, *shape)
    for mode in ("weights", "activations"):
        fused = fuse([wide, narrow], inputs=x, recipe=PAPER.replace(anchor=1, align=mode), input_shape=shape)
        assert {k: v.shape for k, v in fused.state_dict().items()} == {k: v.shape for k, v in narrow.state_dict().items()}
        assert torch.isfinite(fused(x)).all()


def test_nothing_mutates_the_callers_models() -> None:
    models = [randomise_batchnorm(SmallCNN((1, 12, 12), 5, width=4, batch_norm=True), s) for s in range(3)]
    models[1].eval()
    before = [copy.deepcopy(m.state_dict()) for m in models]
    modes = [[module.training for module in m.modules()] for m in models]
    x = torch.randn(16, 1, 12, 12)
    fuse(models, [1, 2, 3], inputs=x, recipe=PAPER.replace(align="activations", repair=True, iterations=1, anchor=2))
    fuse(models, inputs=x, recipe=PAPER.replace(solver="sinkhorn", repair=True, repair_method="rescale"))
    fuse(models, [1, 2, 3], inputs=x)  # the default recipe: every candidate, the guard
    align(models[0], models[1], inputs=x, recipe=PAPER.replace(align="activations"))
    average(models)
    for model, state, training in zip(models, before, modes):
        assert [module.training for module in model.modules()] == training
        for name, tensor in model.state_dict().items():
            assert torch.equal(tensor, state[name]), name


def test_result_keeps_the_anchors_training_mode() -> None:
    a, b = _mlp((8, 4, 2), 0).train(), _mlp((8, 4, 2), 1).eval()
    repair = PAPER.replace(repair=True)
    assert fuse([a, b], inputs=X, recipe=repair).training and not fuse([a, b], inputs=X, recipe=repair.replace(anchor=1)).training


def _pre_activations(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]
    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for m in linears]
    model(x)
    for hook in hooks:
        hook.remove()
    return outputs


def test_repair_gives_each_neuron_its_parents_mean_and_spread() -> None:
    a, b = _mlp((24, 16, 8), 1), _mlp((24, 16, 8), 2)
    shares = [0.25, 0.75]
    fused = fuse([a, b], shares, inputs=X, recipe=PAPER.replace(anchor="first", repair=True, repair_method="rescale"))
    parents = [a, align(b, a, recipe=PAPER)]  # the anchor's order, as the fused model has
    with torch.no_grad():
        fused_outputs = _pre_activations(fused, X)
        parent_outputs = [_pre_activations(parent, X) for parent in parents]
    for layer, output in enumerate(fused_outputs):
        mean = sum(s * p[layer].mean(0) for s, p in zip(shares, parent_outputs))
        std = sum(s * p[layer].std(0, correction=0) for s, p in zip(shares, parent_outputs))
        torch.testing.assert_close(output.mean(0), mean, rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(output.std(0, correction=0), std, rtol=1e-3, atol=1e-4)


def test_repair_counters_variance_collapse() -> None:
    a, b = _mlp((24, 16, 8), 1), _mlp((24, 16, 8), 2)
    with torch.no_grad():
        plain, repaired = fuse([a, b], recipe=PAPER), fuse([a, b], inputs=X, recipe=PAPER.replace(repair=True))
        spread = [o.std(0).mean() for o in _pre_activations(plain, X)]
        parent = [o.std(0).mean() for o in _pre_activations(a, X)]
        repaired_spread = [o.std(0).mean() for o in _pre_activations(repaired, X)]
    assert spread[-1] < parent[-1]  # averaging shrank the last hidden layer's spread
    assert abs(repaired_spread[-1] - parent[-1]) < abs(spread[-1] - parent[-1])


def test_repair_of_batchnorm_nets_resets_running_statistics() -> None:
    models = [randomise_batchnorm(SmallCNN((1, 12, 12), 5, width=4, batch_norm=True), s).eval() for s in (1, 2)]
    x = torch.randn(64, 1, 12, 12)
    fused = fuse(models, inputs=x, recipe=PAPER.replace(repair=True, repair_method="reset_bn"))
    features = fused.features[0](x)
    torch.testing.assert_close(fused.features[1].running_mean, features.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fused.features[1].running_var, features.var((0, 2, 3)), rtol=1e-3, atol=1e-5)


def test_repair_of_identical_models_changes_nothing() -> None:
    a = _mlp((24, 16, 8), 1)
    torch.testing.assert_close(fuse([a, a], inputs=X, recipe=PAPER.replace(repair=True, repair_method="rescale"))(X), a(X), rtol=1e-4, atol=1e-5)


def test_average_is_the_weighted_mean_of_parameters() -> None:
    a, b = _mlp((8, 4, 2), 0), _mlp((8, 4, 2), 1)
    averaged = average([a, b], [1, 3])
    for name, tensor in averaged.state_dict().items():
        torch.testing.assert_close(tensor, 0.25 * a.state_dict()[name] + 0.75 * b.state_dict()[name])
