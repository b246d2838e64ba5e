"""Where a traced value's channels are: the axis that carries them and the channel spaces laid along it."""

from __future__ import annotations

from dataclasses import dataclass

Segments = tuple[tuple[int, int], ...]
"""(space, block) pairs laid side by side along a channel axis; each neuron spans ``block`` entries."""


@dataclass(frozen=True)
class Layout:
    """A value's channel axis, its rank, and the spaces laid along that axis."""

    axis: int
    rank: int
    segments: Segments

    @property
    def axis_from_end(self) -> int:
        return self.rank - 1 - self.axis

    @property
    def blocks(self) -> list[int]:
        return [block for _, block in self.segments]
