"""How each operation moves channels: one rule per module type, function or method, looked up in tables.

A rule takes the :class:`~fedot.fusion.graph_walk.GraphWalk` and a node and returns the
:class:`~fedot.fusion.layout.Layout` of the node's output (attaching state-dict axes to
channel spaces on the way), or raises the walk's ``unsupported`` error with the reason.
:func:`rule_for` finds a node's rule: by the module's type (its most specific registered
base class), the function object, or the method name. To support an operation, add its rule
to a table — there is no other place.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.fx.node import Node
from torch.nn import functional as F

from fedot.fusion.groups import ProducerKind
from fedot.fusion.layout import Layout

if TYPE_CHECKING:
    from fedot.fusion.graph_walk import GraphWalk

Rule = Callable[["GraphWalk", Node], "Layout | None"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


# -- rules --------------------------------------------------------------------------------------


def layer(walk: GraphWalk, node: Node) -> Layout:
    """Linear / Conv: a new space for the outputs (rows and bias); the input's space on weight axis 1."""
    module = walk.module(node)
    source = walk.main_input(node)
    name = str(node.target)
    is_linear = isinstance(module, nn.Linear)
    rank = len(walk.shape(node))
    aligned_input = not walk.is_fixed(source)  # a fixed input's order never moves: no checks
    if aligned_input and is_linear and source.axis != source.rank - 1:
        raise walk.unsupported(node, "its input's channels are not on the last axis")
    if aligned_input and not is_linear and (source.axis != 1 or any(b != 1 for b in source.blocks)):
        raise walk.unsupported(node, "its input's channels are not on axis 1")
    if not is_linear and module.groups != 1:
        return _depthwise(walk, node, module, source)
    out_features = module.out_features if is_linear else module.out_channels
    space = walk.output_space_of.get(name)
    if space is None:
        space = walk.output_space_of[name] = walk.spaces.new(out_features)
    own = ((space, 1),)
    walk.attach(f"{name}.weight", 0, own, incoming=False, describes=True, node=node)
    walk.attach(f"{name}.bias", 0, own, incoming=False, describes=True, node=node)
    if aligned_input:
        walk.attach(f"{name}.weight", 1, source.segments, incoming=True, describes=False, node=node)
    layout = Layout(rank - 1 if is_linear else 1, rank, own)
    walk.add_producer(node, name, "linear" if is_linear else "conv", layout)
    return layout


def _depthwise(walk: GraphWalk, node: Node, module: nn.Module, source: Layout) -> Layout:
    if not module.groups == module.in_channels == module.out_channels:
        raise walk.unsupported(
            node,
            f"it is a grouped convolution (groups={module.groups}); only groups=1 and "
            "depthwise (groups = in_channels = out_channels) convolutions can be aligned",
        )
    return _per_channel(walk, node, source, ("weight", "bias"), "conv", describes=True)


def batch_norm(walk: GraphWalk, node: Node) -> Layout:
    """BatchNorm: its four vectors move with the channels it normalises (axis 1)."""
    source = _channels_on_axis_1(walk, node)
    return _per_channel(walk, node, source, ("weight", "bias", "running_mean", "running_var"), "norm", describes=False)


def _per_channel(
    walk: GraphWalk, node: Node, source: Layout, vectors: tuple[str, ...], kind: ProducerKind, *, describes: bool
) -> Layout:
    """A module acting on each channel alone: its ``vectors`` move with the channels; its output,
    when it lies on one group, is that group's pre-activation."""
    name = str(node.target)
    for vector in vectors:
        walk.attach(f"{name}.{vector}", 0, source.segments, incoming=False, describes=describes, node=node)
    layout = pass_through(walk, node, source)
    if len(source.segments) == 1:
        walk.add_producer(node, name, kind, layout)
    return layout


def _channels_on_axis_1(walk: GraphWalk, node: Node) -> Layout:
    source = walk.main_input(node)
    if source.axis != 1 or any(block != 1 for block in source.blocks):
        raise walk.unsupported(node, "its input's channels are not on axis 1")
    return source


def prelu(walk: GraphWalk, node: Node) -> Layout:
    """PReLU: a per-channel slope moves with the channels (axis 1); a single slope moves nothing."""
    if walk.module(node).num_parameters == 1:
        return main_pass_through(walk, node)
    source = _channels_on_axis_1(walk, node)
    walk.attach(f"{node.target}.weight", 0, source.segments, incoming=False, describes=False, node=node)
    return pass_through(walk, node, source)


def main_pass_through(walk: GraphWalk, node: Node) -> Layout:
    """Element-wise modules (activations, dropout): the input's layout."""
    return pass_through(walk, node, walk.main_input(node))


def unary(walk: GraphWalk, node: Node) -> Layout:
    """Element-wise functions of one tensor (extra arguments are scalars)."""
    inputs = [arg for arg in node.all_input_nodes if walk.layouts.get(arg) is not None]
    if len(inputs) != 1:
        raise walk.unsupported(node, "it reads more than one tensor")
    return pass_through(walk, node, walk.layouts[inputs[0]])


def pass_through(walk: GraphWalk, node: Node, source: Layout) -> Layout:
    shape = walk.shape(node)
    if shape is None or len(shape) != source.rank:
        raise walk.unsupported(node, "it changes the rank of its input")
    return source


def spatial(walk: GraphWalk, node: Node) -> Layout:
    """Pooling, padding, resizing: act on each channel's positions (axes ≥ 2) alone."""
    source = walk.main_input(node)
    if source.axis != 1 or source.rank < 3:
        raise walk.unsupported(node, "its input's channels are not on axis 1")
    return pass_through(walk, node, source)


def binary(walk: GraphWalk, node: Node) -> Layout:
    """``+``, ``*``, …: the operands' spaces merge (a residual sum's branches get one map)."""
    return elementwise(walk, node, node.args[:2])


def elementwise(walk: GraphWalk, node: Node, operands: Sequence[Any]) -> Layout:
    """Operands that broadcast along the channels don't merge; parameters that vary along them attach."""
    shape = walk.shape(node)
    if shape is None:
        raise walk.unsupported(node, "it does not return a tensor")
    members: list[Layout] = []
    parameters: list[Node] = []
    for operand in operands:
        if not isinstance(operand, Node):
            continue
        if operand in walk.attributes:
            parameters.append(operand)
            continue
        layout = walk.layouts.get(operand)
        operand_shape = walk.shape(operand)
        if layout is None or operand_shape is None:
            continue
        broadcast_along_channels = operand_shape[layout.axis] == 1 and (
            shape[len(shape) - 1 - layout.axis_from_end] != 1
        )
        if not broadcast_along_channels:
            members.append(layout)
    if not members:
        return walk.fresh(node, fixed=True)
    first = members[0]
    for other in members[1:]:
        if other.axis_from_end != first.axis_from_end or other.blocks != first.blocks:
            raise walk.unsupported(
                node, "its operands lay out their channels differently (is a concatenation "
                "combined with a single layer's output?)"
            )
        for (space_a, _), (space_b, _) in zip(first.segments, other.segments):
            walk.spaces.union(space_a, space_b, walk.describe(node))
    extent = sum(walk.spaces.size(space) * block for space, block in first.segments)
    for parameter in parameters:
        _attach_broadcast_parameter(walk, node, parameter, first, extent)
    return Layout(len(shape) - 1 - first.axis_from_end, len(shape), first.segments)


def _attach_broadcast_parameter(walk: GraphWalk, node: Node, parameter: Node, layout: Layout, extent: int) -> None:
    tensor_shape = walk.shape(parameter) or ()
    axis = len(tensor_shape) - 1 - layout.axis_from_end
    if axis < 0 or tensor_shape[axis] == 1:
        return
    name = str(parameter.target)
    if tensor_shape[axis] != extent or name not in walk.known_names:
        raise walk.unsupported(node, f"`{name}` varies along the channels but is not a parameter")
    walk.attach(name, axis, layout.segments, incoming=False, describes=False, node=node)


def flatten_module(walk: GraphWalk, node: Node) -> Layout:
    module = walk.module(node)
    return flatten(walk, node, walk.main_input(node), module.start_dim, module.end_dim)


def flatten_call(walk: GraphWalk, node: Node) -> Layout:
    start = walk.argument(node, 1, "start_dim", 0)
    end = walk.argument(node, 2, "end_dim", -1)
    return flatten(walk, node, walk.main_input(node), start, end)


def flatten(walk: GraphWalk, node: Node, source: Layout, start: int, end: int) -> Layout:
    """Merging the channel axis with the dims after it widens each neuron to a block."""
    input_shape = walk.shape(node.all_input_nodes[0]) or ()
    rank = len(input_shape)
    start, end = start % rank if rank else 0, end % rank if rank else 0
    if source.axis < start:
        axis, segments = source.axis, source.segments
    elif source.axis > end:
        axis, segments = source.axis - (end - start), source.segments
    elif source.axis == start:
        factor = math.prod(input_shape[start + 1 : end + 1])
        axis = start
        segments = tuple((space, block * factor) for space, block in source.segments)
    else:
        raise walk.unsupported(node, "it merges the channel axis into the dimension before it")
    return Layout(axis, rank - (end - start), segments)


def reshape(walk: GraphWalk, node: Node) -> Layout:
    """A reshape that flattens dims, or only adds or removes unit dims."""
    source = walk.main_input(node)
    before = tuple(walk.shape(node.all_input_nodes[0]) or ())
    after = tuple(walk.shape(node) or ())
    if before == after:
        return source
    for start in range(len(before)):
        for end in range(start, len(before)):
            merged = (*before[:start], math.prod(before[start : end + 1]), *before[end + 1 :])
            if merged == after:
                return flatten(walk, node, source, start, end)
    kept_before = [axis for axis, size in enumerate(before) if size != 1]
    kept_after = [axis for axis, size in enumerate(after) if size != 1]
    same_sizes = [before[a] for a in kept_before] == [after[a] for a in kept_after]
    if same_sizes and source.axis in kept_before:
        return Layout(kept_after[kept_before.index(source.axis)], len(after), source.segments)
    raise walk.unsupported(node, f"reshaping {before} to {after} moves the channels")


def subscript(walk: GraphWalk, node: Node) -> Layout:
    """``x[:, :, None, None]``: only whole dims kept or unit dims added, as a reshape."""
    items = node.args[1] if isinstance(node.args[1], tuple) else (node.args[1],)
    if not all(item is None or item is Ellipsis or item == slice(None) for item in items):
        raise walk.unsupported(node)
    return reshape(walk, node)


def reduction(walk: GraphWalk, node: Node) -> Layout:
    """A mean/sum/max over other axes than the channels'."""
    source = walk.main_input(node)
    dims = walk.argument(node, 1, "dim", None)
    keepdim = walk.argument(node, 2, "keepdim", False)
    if dims is None:
        raise walk.unsupported(node, "it reduces over the channel axis")
    dims = {d % source.rank for d in ((dims,) if isinstance(dims, int) else dims)}
    if source.axis in dims:
        raise walk.unsupported(node, "it reduces over the channel axis")
    axis = source.axis if keepdim else source.axis - sum(d < source.axis for d in dims)
    rank = source.rank if keepdim else source.rank - len(dims)
    return Layout(axis, rank, source.segments)


def concatenate(walk: GraphWalk, node: Node) -> Layout:
    """Along the channel axis: the spaces side by side; along another axis: an element-wise merge."""
    parts = walk.argument(node, 0, "tensors", ())
    layouts = [walk.layouts.get(part) for part in parts]
    if any(layout is None for layout in layouts):
        raise walk.unsupported(node, "it concatenates a value whose channels are unknown")
    rank = layouts[0].rank
    dim = walk.argument(node, 1, "dim", 0) % rank
    if all(layout.axis == dim for layout in layouts):
        return Layout(dim, rank, tuple(s for layout in layouts for s in layout.segments))
    return elementwise(walk, node, parts)


# -- tables -------------------------------------------------------------------------------------


def _each(rule: Rule, *keys: Any) -> dict[Any, Rule]:
    return dict.fromkeys(keys, rule)


MODULE_RULES: dict[type, Rule] = {
    nn.Linear: layer, **_each(layer, *_CONVS),
    nn.modules.batchnorm._BatchNorm: batch_norm,
    nn.PReLU: prelu,
    **_each(
        main_pass_through,
        nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
        nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Softsign,
        nn.Tanhshrink, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
        nn.AlphaDropout,
    ),
    **_each(
        spatial,
        nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
        nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
        nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.LPPool1d, nn.LPPool2d, nn.Upsample,
        nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d,
        nn.ConstantPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReplicationPad1d,
        nn.ReplicationPad2d,
    ),
    nn.Flatten: flatten_module,
}  # fmt: skip
"""Rules by module type; a subclass uses its nearest registered base class's rule."""

FUNCTION_RULES: dict[Callable[..., Any], Rule] = {
    **_each(
        unary,
        torch.relu, torch.relu_, F.relu, F.relu_, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh,
        F.gelu, F.silu, F.elu, F.leaky_relu, F.hardtanh, F.relu6, F.softplus, F.hardswish, F.mish,
        F.hardsigmoid, F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, torch.clamp, torch.abs,
        torch.exp, torch.neg, operator.neg, torch.sqrt, torch.square,
    ),
    **_each(
        binary,
        operator.add, operator.iadd, torch.add, operator.sub, operator.isub, torch.sub,
        operator.mul, operator.imul, torch.mul, operator.truediv, operator.itruediv, torch.div,
        torch.maximum, torch.minimum, operator.pow, torch.pow,
    ),
    torch.flatten: flatten_call,
    **_each(reshape, torch.reshape, torch.unsqueeze, torch.squeeze),
    operator.getitem: subscript,
    **_each(
        spatial,
        F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
        F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
        F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d, F.interpolate,
    ),
    **_each(reduction, torch.mean, torch.sum, torch.amax, torch.amin),
    **_each(concatenate, torch.cat, torch.concat, torch.concatenate),
}  # fmt: skip
"""Rules by function (``call_function`` nodes)."""

METHOD_RULES: dict[str, Rule] = {
    **_each(
        unary,
        "relu", "relu_", "sigmoid", "tanh", "clamp", "clamp_", "contiguous", "clone", "detach",
        "float", "double", "half", "to", "abs", "exp", "neg", "sqrt", "square",
    ),
    **_each(binary, "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "maximum", "minimum", "pow"),
    "flatten": flatten_call,
    **_each(reshape, "view", "reshape", "unsqueeze", "squeeze"),
    **_each(reduction, "mean", "sum", "amax", "amin"),
}  # fmt: skip
"""Rules by tensor method name (``call_method`` nodes)."""


def rule_for(node: Node, module: nn.Module | None) -> Rule | None:
    """The rule of ``node``'s operation (``module`` for ``call_module`` nodes), or None when there is none."""
    if node.op == "call_module":
        return next((MODULE_RULES[cls] for cls in type(module).__mro__ if cls in MODULE_RULES), None)
    if node.op == "call_method":
        return METHOD_RULES.get(str(node.target))
    if node.op == "call_function":
        try:
            return FUNCTION_RULES.get(node.target)
        except TypeError:  # an unhashable callable
            return None
    return None
