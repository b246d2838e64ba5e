"""The walk over a traced graph that gives every tensor value a layout over channel spaces.

:class:`GraphWalk` visits the nodes in order, looks up each operation's rule in
:mod:`fedot.fusion.graph_rules` and offers the rules what they share: the channel spaces
(a union-find), each value's :class:`Layout`, the state-dict axes attached to spaces, and
errors that name the node. At the end it turns the spaces into a :class:`Structure`.
"""

from __future__ import annotations

import builtins
import copy
from dataclasses import dataclass
from typing import Any

import torch.fx
from torch import nn
from torch.fx.node import Node
from torch.fx.passes.shape_prop import TensorMetadata

from fedot.fusion.channel_spaces import ChannelSpaces
from fedot.fusion.errors import UnsupportedModelError
from fedot.fusion.graph_rules import rule_for
from fedot.fusion.groups import AlignedAxis, NeuronGroup, Producer, ProducerKind, Segment, Structure
from fedot.fusion.layout import Layout, Segments

@dataclass
class _Attachment:
    segments: Segments
    incoming: bool
    describes_neuron: bool


@dataclass(frozen=True)
class _Candidate:
    node: Node
    module: str
    kind: ProducerKind
    layout: Layout


class GraphWalk:
    """Walks the graph once; rules (``graph_rules``) read and extend its state through the methods below."""

    def __init__(self, graph_module: torch.fx.GraphModule, state_names: list[str]) -> None:
        self.graph_module = graph_module
        self.state_names = state_names
        self.known_names = set(state_names)
        self.spaces = ChannelSpaces()
        self.layouts: dict[Node, Layout | None] = {}
        self.attributes: dict[Node, str] = {}
        self.attachments: dict[tuple[str, int], _Attachment] = {}
        self.output_space_of: dict[str, int] = {}
        self.candidates: list[_Candidate] = []

    def build(self) -> Structure:
        for node in self.graph_module.graph.nodes:
            self.layouts[node] = self._visit(node)
        return self._structure()

    def _visit(self, node: Node) -> Layout | None:
        if node.op == "placeholder":
            return self.fresh(node, fixed=True)
        if node.op == "get_attr":
            self.attributes[node] = str(node.target)
            return None
        if node.op == "output":
            for leaf in self.input_layouts(node):
                for space, _ in leaf.segments:
                    self.spaces.fix(space)
            return None
        module = self.graph_module.get_submodule(str(node.target)) if node.op == "call_module" else None
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return rule_for(node, module)(self, node)
        if node.op == "call_method" and node.target in ("size", "dim", "numel"):
            return None
        if node.op == "call_function" and node.target is builtins.getattr:
            return None
        if all(self.is_fixed(layout) for layout in self.input_layouts(node)):
            return self.fresh(node, fixed=True)
        rule = rule_for(node, module)
        if rule is None:
            raise self.unsupported(node)
        return rule(self, node)

    # -- what rules use ---------------------------------------------------------------------

    def module(self, node: Node) -> nn.Module:
        return self.graph_module.get_submodule(str(node.target))

    def attach(self, tensor: str, axis: int, segments: Segments, *, incoming: bool, describes: bool, node: Node) -> None:
        """Record that ``tensor``'s ``axis`` lays out ``segments``; a second use merges the spaces."""
        if tensor not in self.known_names:
            return
        previous = self.attachments.get((tensor, axis))
        if previous is None:
            self.attachments[(tensor, axis)] = _Attachment(segments, incoming, describes)
            return
        if [b for _, b in previous.segments] != [b for _, b in segments]:
            raise self.unsupported(node, f"`{tensor}` is used with two channel layouts")
        for (space_a, _), (space_b, _) in zip(previous.segments, segments):
            self.spaces.union(space_a, space_b, self.describe(node))

    def add_producer(self, node: Node, module: str, kind: ProducerKind, layout: Layout) -> None:
        """``node``'s output is a pre-activation of ``layout``'s group (for activations and repair)."""
        self.candidates.append(_Candidate(node, module, kind, layout))

    def fresh(self, node: Node, *, fixed: bool) -> Layout | None:
        """A new space for ``node``'s channels (axis 1, or 0 for vectors); None for non-tensors."""
        shape = self.shape(node)
        if shape is None:
            return None
        axis = 1 if len(shape) >= 2 else 0
        size = shape[axis] if shape else 1
        return Layout(axis, len(shape), ((self.spaces.new(size, fixed=fixed), 1),))

    def main_input(self, node: Node) -> Layout:
        first = node.args[0] if node.args else None
        layout = self.layouts.get(first) if isinstance(first, Node) else None
        if layout is None:
            raise self.unsupported(node, "its first argument is not a traced tensor")
        return layout

    def input_layouts(self, node: Node) -> list[Layout]:
        return [layout for arg in node.all_input_nodes if (layout := self.layouts.get(arg)) is not None]

    def is_fixed(self, layout: Layout) -> bool:
        return all(self.spaces.is_fixed(space) for space, _ in layout.segments)

    @staticmethod
    def shape(node: Node) -> tuple[int, ...] | None:
        meta = node.meta.get("tensor_meta")
        return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None

    @staticmethod
    def argument(node: Node, position: int, name: str, default: Any) -> Any:
        if len(node.args) > position:
            return node.args[position]
        return node.kwargs.get(name, default)

    def describe(self, node: Node) -> str:
        if node.op == "call_module":
            module = self.graph_module.get_submodule(str(node.target))
            return f"node `{node.name}` (module `{node.target}`, {type(module).__name__})"
        stack = node.meta.get("nn_module_stack") or {}
        owner = next(reversed(stack.values()))[0] if stack else ""
        where = f"module `{owner}`" if owner else "the top-level module"
        target = getattr(node.target, "__name__", str(node.target))
        kind = "method" if node.op == "call_method" else "function"
        return f"node `{node.name}` ({kind} `{target}` in {where})"

    def unsupported(self, node: Node, reason: str = "") -> UnsupportedModelError:
        because = f": {reason}" if reason else ": fusion does not know how it moves channels"
        return UnsupportedModelError(f"cannot align the neurons at {self.describe(node)}{because}")

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
