"""OTFusion.aggregate_train: Flower replies in, one fused global model out."""

from __future__ import annotations

import pytest
import torch

from fedot.models import MLPNet
from fedot.recipe import PAPER, Recipe
from strategies.otfusion import OTFusion
from tests.fusion_helpers import permuted_copy
from tests.support.messages import train_message, train_reply

pytestmark = pytest.mark.usefixtures("task_identity")
SHAPE = (1, 8, 8)


def model_fn() -> MLPNet:
    return MLPNet(SHAPE, 10, hidden=(16, 12, 8))


def replies_for(models: list[torch.nn.Module], examples: list[int]):
    template = {k: v.numpy() for k, v in model_fn().state_dict().items()}
    out = []
    for node, (model, count) in enumerate(zip(models, examples)):
        arrays = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        out.append(train_reply(train_message(node, template), arrays, examples=count, **{"train-loss": 0.5}))
    return out


def fused_model(strategy: OTFusion, replies) -> torch.nn.Module:
    arrays, metrics = strategy.aggregate_train(1, replies)
    model = model_fn()
    model.load_state_dict(arrays.to_torch_state_dict())
    assert metrics["train-loss"] == pytest.approx(0.5)
    return model.eval()


def test_a_permuted_copy_fuses_back_into_the_same_function() -> None:
    torch.manual_seed(0)
    original = model_fn().eval()
    shuffled = permuted_copy(original, SHAPE, seed=3)
    x = torch.randn(32, *SHAPE)
    plain = OTFusion(model_fn, PAPER)
    fused = fused_model(plain, replies_for([original, shuffled], [30, 10]))
    torch.testing.assert_close(fused(x), original(x), atol=1e-5, rtol=1e-5)


def test_activation_alignment_with_repair_keeps_identical_models_intact() -> None:
    torch.manual_seed(1)
    original = model_fn().eval()
    inputs = [torch.randn(50, *SHAPE)]
    strategy = OTFusion(model_fn, PAPER.replace(align="activations", repair=True), server_inputs=inputs)
    fused = fused_model(strategy, replies_for([original, original, original], [5, 7, 9]))
    x = torch.randn(16, *SHAPE)
    torch.testing.assert_close(fused(x), original(x), atol=1e-4, rtol=1e-4)


def test_no_usable_reply_means_no_new_model() -> None:
    strategy = OTFusion(model_fn, Recipe().data_free())
    assert strategy.aggregate_train(1, []) == (None, None)


def test_the_default_recipe_fuses_a_permuted_copy_back_with_the_guard() -> None:
    torch.manual_seed(2)
    original = model_fn().eval()
    shuffled = permuted_copy(original, SHAPE, seed=4)
    inputs = [torch.randn(40, *SHAPE)]
    fused = fused_model(OTFusion(model_fn, Recipe(), server_inputs=inputs), replies_for([original, shuffled], [30, 10]))
    torch.testing.assert_close(fused(inputs[0]), original(inputs[0]), atol=1e-4, rtol=1e-4)


def test_activation_alignment_without_server_inputs_is_refused() -> None:
    with pytest.raises(ValueError, match="reads server-held inputs"):
        OTFusion(model_fn, PAPER.replace(align="activations"))
