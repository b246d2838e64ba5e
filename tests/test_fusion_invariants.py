"""Invariants of align and fuse: permutations are undone, functions are kept, weights respected."""

from collections.abc import Callable

import pytest
import torch
import torchvision
from torch import nn

from fusion_helpers import Branchy, max_difference, permuted_copy, randomise_batchnorm
from fedot.fusion import PAPER, align, fuse
from fedot.models import MODELS, VGG11, MLPNet, ResNet18, SmallCNN, build_model


def _narrow_torchvision_vgg(factory: Callable[..., nn.Module]) -> nn.Module:
    """torchvision's VGG with its 4096-wide classifier narrowed to 32 (same layer kinds);
    the full width makes one weights-mode alignment take ~20 s on 2 cores."""
    with torch.device("meta"):  # skip initialising the 120M parameters we replace
        model = factory(weights=None, num_classes=5)
    model.classifier[0] = nn.Linear(512 * 7 * 7, 32)
    model.classifier[3] = nn.Linear(32, 32)
    model.classifier[6] = nn.Linear(32, 5)
    model.features.to_empty(device="cpu")
    for module in model.features.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model


CASES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (lambda: MLPNet((1, 8, 8), 5, hidden=(24, 16, 8)), (1, 8, 8)),
    "mlp_nobias": (lambda: MLPNet((1, 8, 8), 5, hidden=(24, 16, 8), bias=False), (1, 8, 8)),
    "cnn": (lambda: SmallCNN((1, 12, 12), 5, width=4), (1, 12, 12)),
    "cnn_bn": (lambda: SmallCNN((1, 12, 12), 5, width=4, batch_norm=True), (1, 12, 12)),
    "vgg11": (lambda: VGG11((3, 32, 32), 5, width_multiplier=1 / 16), (3, 32, 32)),
    "vgg11_nobias": (lambda: VGG11((3, 32, 32), 5, bias=False, width_multiplier=1 / 16), (3, 32, 32)),
    "vgg11_bn": (lambda: VGG11((3, 32, 32), 5, batch_norm=True, width_multiplier=1 / 16), (3, 32, 32)),
    "resnet18": (lambda: ResNet18((3, 32, 32), 5, width=4), (3, 32, 32)),
    "resnet18_nobn": (lambda: ResNet18((3, 32, 32), 5, batch_norm=False, width=4), (3, 32, 32)),
    "branchy": (lambda: Branchy(), (3, 8, 8)),
    "tv_resnet18": (lambda: torchvision.models.resnet18(weights=None, num_classes=5), (3, 32, 32)),
    "tv_vgg11": (lambda: _narrow_torchvision_vgg(torchvision.models.vgg11), (3, 32, 32)),
    "tv_vgg11_bn": (lambda: _narrow_torchvision_vgg(torchvision.models.vgg11_bn), (3, 32, 32)),
}


def _model(case: str, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    factory, shape = CASES[case]
    torch.manual_seed(seed)
    model = randomise_batchnorm(factory(), seed).eval()
    return model, torch.randn(16, *shape, generator=torch.Generator().manual_seed(99))


def _assert_same_state(a: nn.Module, b: nn.Module) -> None:
    for name, tensor in b.state_dict().items():
        assert torch.equal(a.state_dict()[name], tensor), name


@pytest.mark.parametrize("mode", ["weights", "activations"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_permuted_copy_is_recovered_exactly(case: str, mode: str) -> None:
    model, x = _model(case)
    permuted = permuted_copy(model, tuple(x.shape[1:]), seed=1)
    assert max_difference(permuted(x), model(x)) < 1e-4  # the structure is complete and sound
    restored = align(permuted, model, inputs=x if mode == "activations" else None, recipe=PAPER.replace(align=mode), input_shape=x.shape[1:])
    _assert_same_state(restored, model)
    torch.testing.assert_close(restored(x), model(x))


@pytest.mark.parametrize("mode", ["weights", "activations"])
@pytest.mark.parametrize("case", ["mlp", "vgg11_bn", "resnet18", "branchy"])
def test_aligning_keeps_the_function(case: str, mode: str) -> None:
    model, x = _model(case, seed=1)
    reference, _ = _model(case, seed=2)
    aligned = align(model, reference, inputs=x if mode == "activations" else None, recipe=PAPER.replace(align=mode), input_shape=x.shape[1:])
    torch.testing.assert_close(aligned(x), model(x), rtol=1e-4, atol=1e-5)
    moved = [name for name, tensor in model.state_dict().items() if not torch.equal(aligned.state_dict()[name], tensor)]
    assert moved  # the neurons were reordered, not merely copied


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"align": "activations"},
        {"solver": "sinkhorn", "reg": 0.01},
        {"marginals": "importance", "metric": "cosine"},
        {"iterations": 2, "anchor": "first"},
    ],
    ids=["exact", "activations", "sinkhorn", "importance-cosine", "barycenter"],
)
@pytest.mark.parametrize("case", ["mlp", "vgg11_bn", "resnet18"])
def test_fusing_copies_returns_the_same_function(case: str, options: dict) -> None:
    model, x = _model(case)
    inputs = x if options.get("align") == "activations" else None
    fused = fuse([model, model, model], [1, 2, 3], inputs=inputs, recipe=PAPER.replace(**options), input_shape=x.shape[1:])
    torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-4)


def test_fusing_copies_of_torchvision_resnet18_returns_the_same_function() -> None:
    model, x = _model("tv_resnet18")
    torch.testing.assert_close(fuse([model, model], input_shape=x.shape[1:])(x), model(x))


@pytest.mark.parametrize("mode", ["weights", "activations"])
@pytest.mark.parametrize("case", ["mlp", "vgg11_bn", "resnet18_nobn", "tv_resnet18"])
def test_a_single_nonzero_weight_returns_that_model(case: str, mode: str) -> None:
    models = [_model(case, seed)[0] for seed in (1, 2, 3)]
    x = _model(case)[1]
    inputs = x if mode == "activations" else None
    fused = fuse(models, [0, 5, 0], inputs=inputs, recipe=PAPER.replace(align=mode, iterations=1), input_shape=x.shape[1:])
    torch.testing.assert_close(fused(x), models[1](x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_fuses_into_a_working_model(name: str) -> None:
    shape = (1, 8, 8) if name.startswith("mlp") else (3, 32, 32)
    torch.manual_seed(0)
    a, b = build_model(name, shape).eval(), build_model(name, shape).eval()
    fused = fuse([a, b], input_shape=shape)
    assert torch.isfinite(fused(torch.randn(4, *shape))).all()


def test_many_models_fuse_with_weights() -> None:
    models = [_model("resnet18", seed)[0] for seed in range(5)]
    x = _model("resnet18")[1]
    fused = fuse(models, [1, 2, 3, 4, 5], input_shape=x.shape[1:])
    assert fused(x).shape == (16, 5) and torch.isfinite(fused(x)).all()
