"""Every named model builds, runs on its input shape, and traces with torch.fx."""

import pytest
import torch
import torch.fx

from fedot.models import MODELS, build_model

SHAPES = {"mlp": (1, 8, 8), "cnn": (1, 28, 28), "vgg11": (3, 32, 32), "resnet18": (3, 32, 32)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_runs_and_traces(name: str) -> None:
    shape = next(s for prefix, s in SHAPES.items() if name.startswith(prefix))
    torch.manual_seed(0)
    model = build_model(name, shape, num_classes=7).eval()
    x = torch.randn(2, *shape)
    out = model(x)
    assert out.shape == (2, 7)
    traced = torch.fx.symbolic_trace(model)
    torch.testing.assert_close(traced(x), out)


def test_unknown_model_names_the_choices() -> None:
    with pytest.raises(ValueError, match="choose one of: .*mlp"):
        build_model("alexnet")


@pytest.mark.parametrize("name", ["vgg11", "vgg11_bn"])
def test_vgg11_runs_on_28_by_28_inputs(name: str) -> None:
    model = build_model(name, (1, 28, 28), num_classes=10).eval()
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
