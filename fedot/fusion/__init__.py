"""Model fusion by optimal transport (Singh & Jaggi 2020, "Model Fusion via Optimal Transport").

* :func:`fuse` — align N models' neurons to an anchor by OT, then average them with weights.
* :func:`align` — one model moved into a reference's neuron order (same function for exact OT).
* :func:`average` — plain weighted averaging (FedAvg), for comparison.

Layout, one job per module: ``structure`` derives neuron groups from the fx graph (using
``channel_spaces``, a union-find); ``transport`` holds costs, marginals and solvers over plain
tensors; ``activations`` runs state dicts through the architecture to read pre-activations;
``alignment`` computes one plan per group; ``transform`` applies plans to state dicts;
``repair`` fixes statistics after averaging; ``checks`` validates inputs; ``checkpoint``
loads and saves state dicts without unpickling; ``api`` ties them together.
"""

from fedot.fusion.api import align, average, fuse
from fedot.fusion.errors import UnsupportedModelError
from fedot.fusion.structure import Structure, neuron_groups
from fedot.fusion.transport import TransportOptions

__all__ = ["UnsupportedModelError", "Structure", "TransportOptions", "align", "average", "fuse", "neuron_groups"]
