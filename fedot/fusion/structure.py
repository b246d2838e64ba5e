"""Neuron groups derived from a model's ``torch.fx`` graph. Knows nothing of optimal transport.

A *neuron group* is the set of tensor axes that one transport map acts on: a Linear's rows and
bias, the matching columns of every consumer, a BatchNorm's four vectors, and every branch that
feeds one residual sum. The groups come from propagating channel spaces through the graph
(shapes from :class:`torch.fx.passes.shape_prop.ShapeProp` on a sample input):

* Linear / Conv (``groups=1``) create a space for their output channels and record their input
  space on weight axis 1; a depthwise conv keeps its input's space.
* BatchNorm, per-channel PReLU and per-channel parameters of element-wise ops attach to the
  space they act on; element-wise activations, dropout, pooling, padding and resizing pass the
  space through, as do reductions over other axes and reshapes that only add or drop unit dims.
* Element-wise binary ops (``+``, ``*``, …) merge their operands' spaces: both branches of a
  residual sum get one map.
* ``flatten``/``view``/``reshape`` that merge a channel axis with the dims after it keep the space
  but widen each neuron to a *block* of consecutive entries (C·H·W features, block H·W).
* Concatenation along channels lays several spaces side by side on one axis (segments).
* The model's inputs and outputs are *fixed*: their order never changes (the class order stays).

Any other operation is accepted only while every value it reads is fixed; otherwise
:class:`UnsupportedModelError` names the node and the module. The rule of each operation lives
in :mod:`fedot.fusion.graph_rules` (a table from module type, function or method to its rule);
the walk that applies them in :mod:`fedot.fusion.graph_walk`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from fedot.fusion.graph_walk import GraphWalk
from fedot.fusion.groups import AlignedAxis, NeuronGroup, Producer, ProducerKind, Segment, Structure

__all__ = ["AlignedAxis", "NeuronGroup", "Producer", "ProducerKind", "Segment", "Structure", "neuron_groups"]


def neuron_groups(model: nn.Module, input_shape: Sequence[int] | None = None) -> Structure:
    """Derive the neuron groups of ``model`` from its fx graph; ``model`` is not touched.

    ``input_shape`` is one example's shape (no batch axis). When omitted it is read from the
    first layer: ``(in_features,)`` for a Linear, ``(in_channels, 32, …)`` for a Conv.
    Raises :class:`UnsupportedModelError` naming the node and module of an operation whose
    neurons cannot be aligned.
    """
    shadow = _meta_copy(model)
    graph_module = torch.fx.symbolic_trace(shadow)
    shape = tuple(input_shape) if input_shape is not None else _first_layer_input_shape(model)
    try:
        ShapeProp(graph_module).propagate(torch.empty((2, *shape), device="meta"))
    except Exception as error:
        raise ValueError(
            f"could not run the model on an input of shape {shape}: {error}; "
            "pass input_shape=(C, H, W) of one example"
        ) from error
    state_names = list(model.state_dict().keys())
    return GraphWalk(graph_module, state_names).build()


def _meta_copy(model: nn.Module) -> nn.Module:
    """A deep copy whose parameters and buffers live on the meta device (no data copied)."""
    memo: dict[int, Any] = {}
    for parameter in model.parameters():
        memo[id(parameter)] = nn.Parameter(
            torch.empty_like(parameter, device="meta"), requires_grad=parameter.requires_grad
        )
    for buffer in model.buffers():
        memo[id(buffer)] = torch.empty_like(buffer, device="meta")
    return copy.deepcopy(model, memo)


def _first_layer_input_shape(model: nn.Module) -> tuple[int, ...]:
    for module in model.modules():
        if isinstance(module, nn.Linear):
            return (module.in_features,)
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            spatial_dims = len(module.kernel_size)
            return (module.in_channels, *([32] * spatial_dims))
    raise ValueError("the model has no Linear or Conv layer; pass input_shape explicitly")
