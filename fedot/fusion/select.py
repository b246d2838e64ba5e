"""Choosing a fusion: a recipe's ``"select"`` options and guard expand into candidates; one is kept.

Every ``"select"`` of a :class:`~fedot.recipe.Recipe` multiplies the candidates (alignment
methods × anchors × output-layer heads); ``guard`` adds plain averaging as the baseline.
Each candidate is one :func:`~fedot.fusion.fuser.fuse_into` fusion (heads of one alignment
and anchor share it), and the guard criterion on the server's unlabelled inputs
(:func:`fedot.fusion.guard.choose`) keeps one. The result is a :class:`Selection`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import nn

from fedot.fusion.checks import check_same_shapes
from fedot.fusion.fuser import HEADS, Federation, fuse_into, plain_average
from fedot.fusion.guard import Score, choose
from fedot.recipe import Recipe

PLAIN_AVERAGE = "plain average"
"""The guard's baseline candidate."""


@dataclass(frozen=True)
class Selection:
    """The fused model, the name of the candidate it is, and every candidate's score (none when
    there was nothing to choose)."""

    model: nn.Module
    chosen: str
    scores: dict[str, Score] = field(default_factory=dict)


def select(federation: Federation, recipe: Recipe) -> Selection:
    """Build every candidate ``recipe`` names for ``federation`` and keep the one the guard criterion prefers.

    With a single candidate nothing is scored. With ``guard`` the best other candidate replaces
    plain averaging only when it agrees significantly better with the confident-client labels
    on the server's inputs; otherwise the best agreement wins (ties: the first listed).
    """
    _require_inputs(federation, recipe)
    if recipe.align in ("none", "select") or recipe.guard:
        _check_equal_widths(federation, f"align={recipe.align!r}" if recipe.align in ("none", "select") else "guard=True")
    anchors = anchor_indices(recipe.anchor, federation.shares)
    heads = HEADS if recipe.output_weights == "select" else (recipe.output_weights,)
    candidates: dict[str, nn.Module] = {}
    for align in ("weights", "activations", "none") if recipe.align == "select" else (recipe.align,):
        for anchor in anchors[:1] if align == "none" else anchors:
            name = "no alignment" if align == "none" else f"{align}, anchor {anchor}"
            for head, fused in fuse_into(federation, anchor, align, recipe, heads).items():
                candidates[name + (", predicted output weights" if head == "predicted" else "")] = fused
    if recipe.guard:
        candidates[PLAIN_AVERAGE] = plain_average(federation)
    if len(candidates) == 1:
        (name, model), = candidates.items()
        return Selection(model, name)
    choice = choose(candidates, federation.weighted, federation.batches, baseline=PLAIN_AVERAGE if recipe.guard else None)
    return Selection(choice.model, choice.name, choice.scores)


def anchor_indices(anchor: str | int, shares: Sequence[float]) -> list[int]:
    """The models fused into: every weighted one (``"select"``), the largest, the first, or an index."""
    if anchor == "select":
        return [index for index, share in enumerate(shares) if share > 0]
    if anchor == "largest":
        return [max(range(len(shares)), key=lambda index: shares[index])]
    if anchor == "first":
        return [0]
    if isinstance(anchor, bool) or not isinstance(anchor, int) or not -len(shares) <= anchor < len(shares):
        raise ValueError(f"anchor must be a model index below {len(shares)}, 'largest', 'first' or 'select', got {anchor!r}")
    return [anchor % len(shares)]


def _require_inputs(federation: Federation, recipe: Recipe) -> None:
    """Raise naming the first option that reads server-held inputs when there are none."""
    if federation.batches is None and (names := recipe.reads_inputs()):
        raise ValueError(
            f"{names[0]}={getattr(recipe, names[0])!r} reads server-held examples: pass inputs= (a tensor or batches)"
        )


def _check_equal_widths(federation: Federation, option: str) -> None:
    try:
        check_same_shapes(federation.states)
    except ValueError as error:
        raise ValueError(f"{option} needs models of equal widths (plain averaging): {error}") from None
