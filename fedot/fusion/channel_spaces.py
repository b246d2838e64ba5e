"""A union-find over channel spaces: the feature axes that must share one neuron order.

Every value in a traced graph has a channel axis whose entries belong to a *space*. Ops that
combine values element-wise (a residual sum) put their operands' spaces into one set; a set is
*fixed* when its order is given from outside (the model's input and output) and may not move.
"""

from __future__ import annotations

from fedot.fusion.errors import UnsupportedModelError


class ChannelSpaces:
    """Disjoint sets of channel spaces, each with a size (neuron count) and a fixed flag.

    Space ids grow in creation order and a set's root is its oldest member, so sorting roots
    sorts sets by the point in the graph where their first member appeared.
    """

    def __init__(self) -> None:
        self._parent: list[int] = []
        self._size: list[int] = []
        self._fixed: list[bool] = []

    def new(self, size: int, *, fixed: bool = False) -> int:
        """Create a space of ``size`` neurons and return its id."""
        self._parent.append(len(self._parent))
        self._size.append(size)
        self._fixed.append(fixed)
        return len(self._parent) - 1

    def find(self, space: int) -> int:
        """Return the root id of the set that holds ``space``."""
        while self._parent[space] != space:
            self._parent[space] = self._parent[self._parent[space]]
            space = self._parent[space]
        return space

    def union(self, a: int, b: int, where: str) -> None:
        """Merge the sets of ``a`` and ``b``; their sizes must agree (``where`` names the op)."""
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return
        if self._size[root_a] != self._size[root_b]:
            raise UnsupportedModelError(
                f"{where} combines {self._size[root_a]} channels with {self._size[root_b]}"
            )
        root, child = min(root_a, root_b), max(root_a, root_b)
        self._parent[child] = root
        self._fixed[root] = self._fixed[root] or self._fixed[child]

    def fix(self, space: int) -> None:
        """Mark the set holding ``space`` as fixed: its neurons keep their order."""
        self._fixed[self.find(space)] = True

    def is_fixed(self, space: int) -> bool:
        return self._fixed[self.find(space)]

    def size(self, space: int) -> int:
        return self._size[self.find(space)]
