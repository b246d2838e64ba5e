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
:class:`UnsupportedModelError` names the node and the module.
"""

from __future__ import annotations

import builtins
import copy
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.fx
from torch import nn
from torch.fx.node import Node
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata
from torch.nn import functional as F

from fedot.fusion.channel_spaces import ChannelSpaces
from fedot.fusion.errors import UnsupportedModelError


@dataclass(frozen=True)
class Segment:
    """A run of one group's neurons along an axis; each neuron spans ``block`` entries."""

    group: int
    block: int


@dataclass(frozen=True)
class AlignedAxis:
    """One axis of one state-dict tensor, laid out as groups' neurons side by side.

    ``incoming`` axes are a consumer's inputs (columns); the others hold the neurons' own
    parameters. ``describes_neuron`` marks Linear/Conv weight rows and biases: the features
    weight-based alignment compares.
    """

    tensor: str
    axis: int
    segments: tuple[Segment, ...]
    incoming: bool
    describes_neuron: bool


ProducerKind = Literal["linear", "conv", "norm"]


@dataclass(frozen=True)
class Producer:
    """A graph node whose output is a group's pre-activation (a Linear/Conv/BatchNorm output).

    A Linear or Conv read only by a BatchNorm is represented by that BatchNorm.
    """

    node: str
    module: str
    kind: ProducerKind
    axis: int


@dataclass(frozen=True)
class NeuronGroup:
    """Neurons that move together; ``fixed`` groups (inputs, outputs) keep their order."""

    index: int
    size: int
    fixed: bool
    producers: tuple[Producer, ...]


@dataclass(frozen=True)
class Structure:
    """The neuron groups of one architecture (sizes are those of the traced model)."""

    groups: tuple[NeuronGroup, ...]
    axes: tuple[AlignedAxis, ...]
    graph: torch.fx.Graph

    def axes_of(self, tensor: str) -> tuple[AlignedAxis, ...]:
        """The aligned axes of one state-dict tensor (empty when none of its axes moves)."""
        return tuple(axis for axis in self.axes if axis.tensor == tensor)

    @property
    def free_groups(self) -> tuple[NeuronGroup, ...]:
        """The groups that get a transport map, in graph order."""
        return tuple(group for group in self.groups if not group.fixed)


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
    return _GroupBuilder(graph_module, state_names).build()


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


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_ELEMENTWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Softsign,
    nn.Tanhshrink, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
    nn.AlphaDropout,
)  # fmt: skip
_SPATIAL_MODULES = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.LPPool1d, nn.LPPool2d, nn.Upsample,
    nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d,
    nn.ConstantPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReplicationPad1d,
    nn.ReplicationPad2d,
)  # fmt: skip
"""Modules that act on each channel's positions (axes ≥ 2) alone."""
_ELEMENTWISE_FUNCTIONS = {
    torch.relu, torch.relu_, F.relu, F.relu_, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh,
    F.gelu, F.silu, F.elu, F.leaky_relu, F.hardtanh, F.relu6, F.softplus, F.hardswish, F.mish,
    F.hardsigmoid, F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, torch.clamp, torch.abs,
    torch.exp, torch.neg, operator.neg, torch.sqrt, torch.square,
}  # fmt: skip
_ELEMENTWISE_METHODS = {
    "relu", "relu_", "sigmoid", "tanh", "clamp", "clamp_", "contiguous", "clone", "detach",
    "float", "double", "half", "to", "abs", "exp", "neg", "sqrt", "square",
}  # fmt: skip
_BINARY_FUNCTIONS = {
    operator.add, operator.iadd, torch.add, operator.sub, operator.isub, torch.sub,
    operator.mul, operator.imul, torch.mul, operator.truediv, operator.itruediv, torch.div,
    torch.maximum, torch.minimum, operator.pow, torch.pow,
}  # fmt: skip
_BINARY_METHODS = {
    "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "maximum", "minimum", "pow",
}  # fmt: skip
_SPATIAL_FUNCTIONS = {
    F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
    F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d, F.interpolate,
}  # fmt: skip
_REDUCTION_FUNCTIONS = {torch.mean, torch.sum, torch.amax, torch.amin}
_REDUCTION_METHODS = {"mean", "sum", "amax", "amin"}
_CAT_FUNCTIONS = {torch.cat, torch.concat, torch.concatenate}
_SHAPE_QUERY_METHODS = {"size", "dim", "numel"}
_RESHAPE_METHODS = {"view", "reshape", "unsqueeze", "squeeze"}
_RESHAPE_FUNCTIONS = {torch.reshape, torch.unsqueeze, torch.squeeze}


def _only_adds_or_keeps_dims(index: Any) -> bool:
    """Whether a subscript like ``x[:, :, None, None]`` only keeps whole dims or adds unit dims."""
    items = index if isinstance(index, tuple) else (index,)
    return all(item is None or item is Ellipsis or item == slice(None) for item in items)


@dataclass(frozen=True)
class _Layout:
    """Where a value's channels are: its channel axis and the spaces laid along it."""

    axis: int
    rank: int
    segments: tuple[tuple[int, int], ...]  # (space, block)

    @property
    def axis_from_end(self) -> int:
        return self.rank - 1 - self.axis


@dataclass
class _Attachment:
    segments: tuple[tuple[int, int], ...]
    incoming: bool
    describes_neuron: bool


@dataclass(frozen=True)
class _Candidate:
    node: Node
    module: str
    kind: ProducerKind
    layout: _Layout


class _GroupBuilder:
    """Walks the graph once, giving every tensor value a layout over channel spaces."""

    def __init__(self, graph_module: torch.fx.GraphModule, state_names: list[str]) -> None:
        self.graph_module = graph_module
        self.state_names = state_names
        self.known_names = set(state_names)
        self.spaces = ChannelSpaces()
        self.layouts: dict[Node, _Layout | None] = {}
        self.attributes: dict[Node, str] = {}
        self.attachments: dict[tuple[str, int], _Attachment] = {}
        self.output_space_of: dict[str, int] = {}
        self.candidates: list[_Candidate] = []

    # -- the walk ---------------------------------------------------------------------------

    def build(self) -> Structure:
        for node in self.graph_module.graph.nodes:
            self.layouts[node] = self._visit(node)
        return self._structure()

    def _visit(self, node: Node) -> _Layout | None:
        if node.op == "placeholder":
            return self._fresh(node, fixed=True)
        if node.op == "get_attr":
            self.attributes[node] = str(node.target)
            return None
        if node.op == "output":
            for leaf in self._input_layouts(node):
                for space, _ in leaf.segments:
                    self.spaces.fix(space)
            return None
        if node.op == "call_module":
            module = self.graph_module.get_submodule(str(node.target))
            if isinstance(module, (nn.Linear, *_CONVS)):
                return self._layer(node, module)
        if node.op == "call_method" and node.target in _SHAPE_QUERY_METHODS:
            return None
        if node.op == "call_function" and node.target is builtins.getattr:
            return None
        if all(self._is_fixed(layout) for layout in self._input_layouts(node)):
            return self._fresh(node, fixed=True)
        if node.op == "call_module":
            return self._module(node, self.graph_module.get_submodule(str(node.target)))
        return self._function(node)

    def _module(self, node: Node, module: nn.Module) -> _Layout | None:
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            return self._batch_norm(node, module)
        if isinstance(module, nn.PReLU):
            return self._prelu(node, module)
        if isinstance(module, _ELEMENTWISE_MODULES):
            return self._pass_through(node, self._main_input(node))
        if isinstance(module, _SPATIAL_MODULES):
            return self._spatial(node)
        if isinstance(module, nn.Flatten):
            layout = self._main_input(node)
            return self._flatten(node, layout, module.start_dim, module.end_dim)
        raise self._unsupported(node)

    def _function(self, node: Node) -> _Layout | None:
        target, method = node.target, node.op == "call_method"
        if (target in _ELEMENTWISE_METHODS) if method else (target in _ELEMENTWISE_FUNCTIONS):
            return self._unary(node)
        if (target in _BINARY_METHODS) if method else (target in _BINARY_FUNCTIONS):
            return self._elementwise(node, node.args[:2])
        if target == "flatten" if method else target is torch.flatten:
            start = self._argument(node, 1, "start_dim", 0)
            end = self._argument(node, 2, "end_dim", -1)
            return self._flatten(node, self._main_input(node), start, end)
        if (target in _RESHAPE_METHODS) if method else (target in _RESHAPE_FUNCTIONS):
            return self._reshape(node)
        if not method and target is operator.getitem and _only_adds_or_keeps_dims(node.args[1]):
            return self._reshape(node)
        if not method and target in _SPATIAL_FUNCTIONS:
            return self._spatial(node)
        if (target in _REDUCTION_METHODS) if method else (target in _REDUCTION_FUNCTIONS):
            return self._reduction(node)
        if not method and target in _CAT_FUNCTIONS:
            return self._cat(node)
        raise self._unsupported(node)

    # -- rules ------------------------------------------------------------------------------

    def _layer(self, node: Node, module: nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d) -> _Layout:
        source = self._main_input(node)
        name = str(node.target)
        is_linear = isinstance(module, nn.Linear)
        rank = len(self._shape(node))
        aligned_input = not self._is_fixed(source)  # a fixed input's order never moves: no checks
        if aligned_input and is_linear and source.axis != source.rank - 1:
            raise self._unsupported(node, "its input's channels are not on the last axis")
        if aligned_input and not is_linear and (source.axis != 1 or any(b != 1 for _, b in source.segments)):
            raise self._unsupported(node, "its input's channels are not on axis 1")
        if not is_linear and module.groups != 1:
            return self._depthwise(node, module, source)
        out_features = module.out_features if is_linear else module.out_channels
        space = self.output_space_of.get(name)
        if space is None:
            space = self.output_space_of[name] = self.spaces.new(out_features)
        own = ((space, 1),)
        self._attach(f"{name}.weight", 0, own, incoming=False, describes=True, node=node)
        self._attach(f"{name}.bias", 0, own, incoming=False, describes=True, node=node)
        if aligned_input:
            self._attach(f"{name}.weight", 1, source.segments, incoming=True, describes=False, node=node)
        layout = _Layout(rank - 1 if is_linear else 1, rank, own)
        self.candidates.append(_Candidate(node, name, "linear" if is_linear else "conv", layout))
        return layout

    def _depthwise(self, node: Node, module: nn.Conv1d | nn.Conv2d | nn.Conv3d, source: _Layout) -> _Layout:
        if not module.groups == module.in_channels == module.out_channels:
            raise self._unsupported(
                node,
                f"it is a grouped convolution (groups={module.groups}); only groups=1 and "
                "depthwise (groups = in_channels = out_channels) convolutions can be aligned",
            )
        name = str(node.target)
        for tensor in (f"{name}.weight", f"{name}.bias"):
            self._attach(tensor, 0, source.segments, incoming=False, describes=True, node=node)
        layout = self._pass_through(node, source)
        if len(source.segments) == 1:
            self.candidates.append(_Candidate(node, name, "conv", layout))
        return layout

    def _batch_norm(self, node: Node, module: nn.modules.batchnorm._BatchNorm) -> _Layout:
        source = self._main_input(node)
        if source.axis != 1 or any(block != 1 for _, block in source.segments):
            raise self._unsupported(node, "its input's channels are not on axis 1")
        name = str(node.target)
        for vector in ("weight", "bias", "running_mean", "running_var"):
            self._attach(f"{name}.{vector}", 0, source.segments, incoming=False, describes=False, node=node)
        layout = self._pass_through(node, source)
        if len(source.segments) == 1:
            self.candidates.append(_Candidate(node, name, "norm", layout))
        return layout

    def _prelu(self, node: Node, module: nn.PReLU) -> _Layout:
        source = self._main_input(node)
        if module.num_parameters > 1:
            if source.axis != 1 or any(block != 1 for _, block in source.segments):
                raise self._unsupported(node, "its input's channels are not on axis 1")
            self._attach(f"{node.target}.weight", 0, source.segments, incoming=False, describes=False, node=node)
        return self._pass_through(node, source)

    def _unary(self, node: Node) -> _Layout:
        inputs = [arg for arg in node.all_input_nodes if self.layouts.get(arg) is not None]
        if len(inputs) != 1:
            raise self._unsupported(node, "it reads more than one tensor")
        return self._pass_through(node, self.layouts[inputs[0]])

    def _pass_through(self, node: Node, source: _Layout) -> _Layout:
        shape = self._shape(node)
        if shape is None or len(shape) != source.rank:
            raise self._unsupported(node, "it changes the rank of its input")
        return source

    def _spatial(self, node: Node) -> _Layout:
        source = self._main_input(node)
        if source.axis != 1 or source.rank < 3:
            raise self._unsupported(node, "its input's channels are not on axis 1")
        return self._pass_through(node, source)

    def _elementwise(self, node: Node, operands: Sequence[Any]) -> _Layout:
        shape = self._shape(node)
        if shape is None:
            raise self._unsupported(node, "it does not return a tensor")
        members: list[_Layout] = []
        parameters: list[Node] = []
        for operand in operands:
            if not isinstance(operand, Node):
                continue
            if operand in self.attributes:
                parameters.append(operand)
                continue
            layout = self.layouts.get(operand)
            operand_shape = self._shape(operand)
            if layout is None or operand_shape is None:
                continue
            broadcast_along_channels = operand_shape[layout.axis] == 1 and (
                shape[len(shape) - 1 - layout.axis_from_end] != 1
            )
            if not broadcast_along_channels:
                members.append(layout)
        if not members:
            return self._fresh(node, fixed=True)
        first = members[0]
        for other in members[1:]:
            if other.axis_from_end != first.axis_from_end or [b for _, b in other.segments] != [
                b for _, b in first.segments
            ]:
                raise self._unsupported(
                    node, "its operands lay out their channels differently (is a concatenation "
                    "combined with a single layer's output?)"
                )
            for (space_a, _), (space_b, _) in zip(first.segments, other.segments):
                self.spaces.union(space_a, space_b, self._describe(node))
        extent = sum(self.spaces.size(space) * block for space, block in first.segments)
        for parameter in parameters:
            self._attach_broadcast_parameter(node, parameter, first, extent)
        return _Layout(len(shape) - 1 - first.axis_from_end, len(shape), first.segments)

    def _attach_broadcast_parameter(self, node: Node, parameter: Node, layout: _Layout, extent: int) -> None:
        tensor_shape = self._shape(parameter) or ()
        axis = len(tensor_shape) - 1 - layout.axis_from_end
        if axis < 0 or tensor_shape[axis] == 1:
            return
        name = str(parameter.target)
        if tensor_shape[axis] != extent or name not in self.known_names:
            raise self._unsupported(node, f"`{name}` varies along the channels but is not a parameter")
        self._attach(name, axis, layout.segments, incoming=False, describes=False, node=node)

    def _flatten(self, node: Node, source: _Layout, start: int, end: int) -> _Layout:
        input_shape = self._shape(node.all_input_nodes[0]) or ()
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
            raise self._unsupported(node, "it merges the channel axis into the dimension before it")
        return _Layout(axis, rank - (end - start), segments)

    def _reshape(self, node: Node) -> _Layout:
        """A reshape that flattens dims, or only adds or removes unit dims."""
        source = self._main_input(node)
        before = tuple(self._shape(node.all_input_nodes[0]) or ())
        after = tuple(self._shape(node) or ())
        if before == after:
            return source
        for start in range(len(before)):
            for end in range(start, len(before)):
                merged = (*before[:start], math.prod(before[start : end + 1]), *before[end + 1 :])
                if merged == after:
                    return self._flatten(node, source, start, end)
        kept_before = [axis for axis, size in enumerate(before) if size != 1]
        kept_after = [axis for axis, size in enumerate(after) if size != 1]
        same_sizes = [before[a] for a in kept_before] == [after[a] for a in kept_after]
        if same_sizes and source.axis in kept_before:
            return _Layout(kept_after[kept_before.index(source.axis)], len(after), source.segments)
        raise self._unsupported(node, f"reshaping {before} to {after} moves the channels")

    def _reduction(self, node: Node) -> _Layout:
        source = self._main_input(node)
        dims = self._argument(node, 1, "dim", None)
        keepdim = self._argument(node, 2, "keepdim", False)
        if dims is None:
            raise self._unsupported(node, "it reduces over the channel axis")
        dims = {d % source.rank for d in ((dims,) if isinstance(dims, int) else dims)}
        if source.axis in dims:
            raise self._unsupported(node, "it reduces over the channel axis")
        axis = source.axis if keepdim else source.axis - sum(d < source.axis for d in dims)
        rank = source.rank if keepdim else source.rank - len(dims)
        return _Layout(axis, rank, source.segments)

    def _cat(self, node: Node) -> _Layout:
        parts = self._argument(node, 0, "tensors", ())
        layouts = [self.layouts.get(part) for part in parts]
        if any(layout is None for layout in layouts):
            raise self._unsupported(node, "it concatenates a value whose channels are unknown")
        rank = layouts[0].rank
        dim = self._argument(node, 1, "dim", 0) % rank
        if all(layout.axis == dim for layout in layouts):
            return _Layout(dim, rank, tuple(s for layout in layouts for s in layout.segments))
        return self._elementwise(node, parts)

    # -- helpers ----------------------------------------------------------------------------

    def _attach(
        self, tensor: str, axis: int, segments: tuple[tuple[int, int], ...], *,
        incoming: bool, describes: bool, node: Node,
    ) -> None:  # fmt: skip
        if tensor not in self.known_names:
            return
        previous = self.attachments.get((tensor, axis))
        if previous is None:
            self.attachments[(tensor, axis)] = _Attachment(segments, incoming, describes)
            return
        if [b for _, b in previous.segments] != [b for _, b in segments]:
            raise self._unsupported(node, f"`{tensor}` is used with two channel layouts")
        for (space_a, _), (space_b, _) in zip(previous.segments, segments):
            self.spaces.union(space_a, space_b, self._describe(node))

    def _fresh(self, node: Node, *, fixed: bool) -> _Layout | None:
        shape = self._shape(node)
        if shape is None:
            return None
        axis = 1 if len(shape) >= 2 else 0
        size = shape[axis] if shape else 1
        return _Layout(axis, len(shape), ((self.spaces.new(size, fixed=fixed), 1),))

    def _main_input(self, node: Node) -> _Layout:
        first = node.args[0] if node.args else None
        layout = self.layouts.get(first) if isinstance(first, Node) else None
        if layout is None:
            raise self._unsupported(node, "its first argument is not a traced tensor")
        return layout

    def _input_layouts(self, node: Node) -> list[_Layout]:
        return [
            layout
            for arg in node.all_input_nodes
            if (layout := self.layouts.get(arg)) is not None
        ]

    def _is_fixed(self, layout: _Layout) -> bool:
        return all(self.spaces.is_fixed(space) for space, _ in layout.segments)

    @staticmethod
    def _shape(node: Node) -> tuple[int, ...] | None:
        meta = node.meta.get("tensor_meta")
        return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None

    @staticmethod
    def _argument(node: Node, position: int, name: str, default: Any) -> Any:
        if len(node.args) > position:
            return node.args[position]
        return node.kwargs.get(name, default)

    def _describe(self, node: Node) -> str:
        if node.op == "call_module":
            module = self.graph_module.get_submodule(str(node.target))
            return f"node `{node.name}` (module `{node.target}`, {type(module).__name__})"
        stack = node.meta.get("nn_module_stack") or {}
        owner = next(reversed(stack.values()))[0] if stack else ""
        where = f"module `{owner}`" if owner else "the top-level module"
        target = getattr(node.target, "__name__", str(node.target))
        kind = "method" if node.op == "call_method" else "function"
        return f"node `{node.name}` ({kind} `{target}` in {where})"

    def _unsupported(self, node: Node, reason: str = "") -> UnsupportedModelError:
        because = f": {reason}" if reason else ": fusion does not know how it moves channels"
        return UnsupportedModelError(f"cannot align the neurons at {self._describe(node)}{because}")

    # -- result -----------------------------------------------------------------------------

    def _structure(self) -> Structure:
        producers_of: dict[int, list[Producer]] = {}
        norm_nodes = {c.node for c in self.candidates if c.kind == "norm"}
        for candidate in self.candidates:
            users = list(candidate.node.users)
            if candidate.kind != "norm" and len(users) == 1 and users[0] in norm_nodes:
                continue
            root = self.spaces.find(candidate.layout.segments[0][0])
            producer = Producer(candidate.node.name, candidate.module, candidate.kind, candidate.layout.axis)
            producers_of.setdefault(root, []).append(producer)
        roots = {self.spaces.find(space) for a in self.attachments.values() for space, _ in a.segments}
        index_of = {root: index for index, root in enumerate(sorted(roots))}
        groups = tuple(
            NeuronGroup(
                index=index_of[root],
                size=self.spaces.size(root),
                fixed=self.spaces.is_fixed(root),
                producers=tuple(producers_of.get(root, ())) if not self.spaces.is_fixed(root) else (),
            )
            for root in sorted(roots)
        )
        order = {name: position for position, name in enumerate(self.state_names)}
        axes = []
        for (tensor, axis), attachment in sorted(self.attachments.items(), key=lambda item: (order[item[0][0]], item[0][1])):
            segments = tuple(
                Segment(index_of[self.spaces.find(space)], block) for space, block in attachment.segments
            )
            if all(groups[segment.group].fixed for segment in segments):
                continue
            axes.append(AlignedAxis(tensor, axis, segments, attachment.incoming, attachment.describes_neuron))
        graph = copy.deepcopy(self.graph_module.graph)
        return Structure(groups=groups, axes=tuple(axes), graph=graph)
