"""Bad inputs to fuse / align / average raise clear errors that name what is wrong."""

import pytest
import torch
from torch import nn

from fedot.fusion import PAPER, align, average, fuse
from fedot.models import VGG11, MLPNet


def _mlp(input_shape=(1, 8, 8), hidden=(8, 6, 4), classes=5, seed=0) -> MLPNet:
    torch.manual_seed(seed)
    return MLPNet(input_shape, classes, hidden=hidden)


def test_different_input_shape_names_the_first_mismatching_parameter() -> None:
    with pytest.raises(ValueError, match=r"model 1 has `net.1.weight` with shape \(8, 36\), expected \(8, 64\)"):
        fuse([_mlp(), _mlp(input_shape=(1, 6, 6))], input_shape=(1, 8, 8))


def test_different_kernel_outside_the_aligned_axes_is_refused() -> None:
    a = VGG11((3, 32, 32), 5, width_multiplier=1 / 16)
    b = VGG11((3, 32, 32), 5, width_multiplier=1 / 16)
    b.features[0] = nn.Conv2d(3, 4, 5, padding=2)
    with pytest.raises(ValueError, match=r"model 1 has `features.0.weight` with shape \(4, 3, 5, 5\), expected \(4, 3, 3, 3\)"):
        fuse([a, b])


def test_different_output_classes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"model 2 has `net.7.weight` with shape \(4, 7\)|model 2 has `net.7.weight` with shape \(7, 4\), expected \(5, 4\)"):
        fuse([_mlp(), _mlp(), _mlp(classes=7)])


def test_different_architectures_name_the_missing_parameter() -> None:
    with pytest.raises(ValueError, match=r"model 1 has no `net.7.weight`"):
        fuse([_mlp(), _mlp(hidden=(8, 6))])


def test_non_finite_parameters_name_the_model() -> None:
    broken = _mlp(seed=1)
    with torch.no_grad():
        broken.net[3].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"model 1 has non-finite values \(NaN or Inf\) in `net.3.weight`"):
        fuse([_mlp(), broken])
    with torch.no_grad():
        broken.net[3].weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"model 2 has non-finite"):
        average([_mlp(), _mlp(), broken])


@pytest.mark.parametrize(
    "weights, message",
    [
        ([1.0], r"got 1 weights for 2 models"),
        ([1.0, -1.0], r"weight 1 is -1.0"),
        ([0.0, 0.0], r"all weights are zero"),
        ([1.0, float("nan")], r"weight 1 is nan"),
    ],
)
def test_bad_weights_are_refused(weights, message) -> None:
    with pytest.raises(ValueError, match=message):
        fuse([_mlp(), _mlp(seed=1)], weights)
    with pytest.raises(ValueError, match=message):
        average([_mlp(), _mlp(seed=1)], weights)


def test_fewer_than_two_models_are_refused() -> None:
    with pytest.raises(ValueError, match=r"at least 2 models, got 1"):
        fuse([_mlp()])
    with pytest.raises(ValueError, match=r"at least 2 models, got 1"):
        average(_mlp())


@pytest.mark.parametrize(
    "options, message",
    [
        ({"align": "activations"}, r"align='activations' reads server-held examples: pass inputs="),
        ({"align": "gradients"}, r"align must be one of 'weights', 'activations', 'none', 'select', got 'gradients'"),
        ({"solver": "greedy"}, r"solver must be one of 'exact', 'sinkhorn'"),
        ({"solver": "sinkhorn", "reg": 0.0}, r"reg must be a finite number > 0"),
        ({"metric": "manhattan"}, r"metric must be one of"),
        ({"anchor": 2}, r"anchor must be a model index below 2, 'largest', 'first' or 'select'"),
        ({"anchor": "median"}, r"anchor must be one of 'largest', 'first', 'select'"),
        ({"iterations": -1}, r"iterations must be a non-negative integer"),
        ({"repair_method": "magic"}, r"repair_method must be one of"),
    ],
)
def test_bad_options_are_refused(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        fuse([_mlp(), _mlp(seed=1)], recipe=PAPER.replace(**options))


def test_align_refuses_activations_without_inputs_and_mismatched_models() -> None:
    with pytest.raises(ValueError, match=r"needs inputs="):
        align(_mlp(), _mlp(seed=1), recipe=PAPER.replace(align="activations"))
    with pytest.raises(ValueError, match=r"model 1 has `net.1.weight` with shape"):
        align(_mlp(input_shape=(1, 6, 6)), _mlp(), input_shape=(1, 8, 8))


def test_average_refuses_different_widths() -> None:
    with pytest.raises(ValueError, match=r"model 1 has `net.1.weight` with shape \(4, 64\), expected \(8, 64\)"):
        average([_mlp(), _mlp(hidden=(4, 6, 4))])
