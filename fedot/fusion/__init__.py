"""Model fusion by optimal transport (Singh & Jaggi 2020, "Model Fusion via Optimal Transport").

* :func:`fuse` — align N models' neurons to an anchor by OT, then average them with weights,
  as a :class:`~fedot.recipe.Recipe` says (:func:`fuse_with_selection` also says which
  candidate a ``"select"`` or guarded recipe kept).
* :func:`align` — one model moved into a reference's neuron order (same function for exact OT).
* :func:`average` — plain weighted averaging (FedAvg), for comparison.

Layout, one job per module: ``structure`` derives neuron groups from the fx graph (its rules
per operation in ``graph_rules``, over ``channel_spaces``, a union-find); ``transport`` holds
costs, marginals and solvers over plain tensors; ``activations`` runs state dicts through the
architecture to read pre-activations; ``alignment`` makes one plan per group (one plan maker
per method); ``transform`` applies plans to state dicts; ``fuser`` makes one fusion into one
anchor; ``select`` expands a recipe into candidates and keeps one with the ``guard``
criterion; ``repair`` fixes statistics after averaging; ``classes`` weights the output layer
per class; ``checks`` validates inputs; ``checkpoint`` loads and saves state dicts without
unpickling; ``distill`` is fuse-then-distill; ``api`` is the public surface.
"""

from fedot.fusion.api import align, average, fuse, fuse_with_selection
from fedot.fusion.errors import UnsupportedModelError
from fedot.fusion.select import Selection
from fedot.fusion.structure import Structure, neuron_groups
from fedot.recipe import PAPER, Recipe, TransportOptions

__all__ = [
    "PAPER", "Recipe", "Selection", "Structure", "TransportOptions", "UnsupportedModelError",
    "align", "average", "fuse", "fuse_with_selection", "neuron_groups",
]  # fmt: skip
