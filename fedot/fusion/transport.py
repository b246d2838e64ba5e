"""Optimal transport between two sets of neurons: costs, marginals, plans. Knows nothing of models.

Neurons are rows of feature matrices (incoming weights, or activations on shared inputs). A plan
``T`` (``n_model × n_reference``, total mass 1) couples them; :meth:`TransportPlan.outgoing`
and :meth:`TransportPlan.incoming` turn it into the maps that move a model's parameters into
the reference's neuron order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import ot
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

Metric = Literal["euclidean", "cosine", "correlation"]
Solver = Literal["exact", "sinkhorn"]
MarginalKind = Literal["uniform", "importance"]
"""The values of ``fedot.recipe.TransportOptions``' fields, as these functions take them."""

IMPORTANCE_FLOOR = 0.01
"""Share of uniform mass mixed into importance marginals, so that no neuron has zero mass."""

SINKHORN_MAX_ITERATIONS = 5000
EMD_MAX_ITERATIONS = 10_000_000


@dataclass(frozen=True)
class TransportPlan:
    """A coupling of ``n_model`` neurons with ``n_reference`` neurons (total mass 1).

    ``permutation`` is set when the plan is a one-to-one matching: reference neuron ``j`` is
    model neuron ``permutation[j]``.
    """

    coupling: Tensor
    permutation: Tensor | None = None

    def outgoing(self) -> Tensor:
        """``T·diag(1/β)``: each reference neuron as a convex combination of model neurons.

        Applied to a neuron's own parameters (weight rows, bias, BatchNorm vectors), so aligned
        neurons keep their scale. Columns are divided by their actual sums (β once the solver
        converged), so every column sums to exactly 1.
        """
        return self.coupling / self.coupling.sum(0, keepdim=True).clamp_min(torch.finfo(self.coupling.dtype).tiny)

    def incoming(self) -> Tensor:
        """``diag(1/α)·T``: each model neuron's outgoing weight split over reference neurons.

        Applied to consumers' input columns: the total weight a consumer puts on a model neuron
        is preserved, so merging two copies of a neuron (or splitting one in two) keeps the
        function. Equals :meth:`outgoing` for a permutation.
        """
        return self.coupling / self.coupling.sum(1, keepdim=True).clamp_min(torch.finfo(self.coupling.dtype).tiny)


@dataclass(frozen=True)
class RowSums:
    """The sums over features of two row sets, ``x`` (n×d) and ``y`` (m×d), that every metric needs.

    Additive: the sums of concatenated features (or of several batches) are the sums of the
    parts' sums, so callers accumulate them without keeping the features.
    """

    cross: Tensor
    """``x @ y.T`` (n×m)."""
    sq_x: Tensor
    sq_y: Tensor
    sum_x: Tensor
    sum_y: Tensor
    count: int
    """d, the number of features per row."""

    @staticmethod
    def of(x: Tensor, y: Tensor) -> RowSums:
        return RowSums(x @ y.T, x.square().sum(1), y.square().sum(1), x.sum(1), y.sum(1), x.shape[1])

    def __add__(self, other: RowSums) -> RowSums:
        return RowSums(
            self.cross + other.cross, self.sq_x + other.sq_x, self.sq_y + other.sq_y,
            self.sum_x + other.sum_x, self.sum_y + other.sum_y, self.count + other.count,
        )  # fmt: skip


def pairwise_cost(x: Tensor, y: Tensor, *, metric: Metric = "euclidean", squared: bool = False) -> Tensor:
    """Cost between the rows of ``x`` (n×d) and ``y`` (m×d) as an n×m matrix.

    Computed from inner products (‖x‖² + ‖y‖² − 2x·y), never an n×m×d tensor.
    """
    return cost_from_sums(RowSums.of(x, y), metric=metric, squared=squared)


def cost_from_sums(sums: RowSums, *, metric: Metric = "euclidean", squared: bool = False) -> Tensor:
    """The cost of :func:`pairwise_cost` from accumulated :class:`RowSums`."""
    cross, sq_x, sq_y = sums.cross, sums.sq_x, sums.sq_y
    if metric == "correlation":
        mean_x, mean_y = sums.sum_x / sums.count, sums.sum_y / sums.count
        cross = cross - sums.count * mean_x[:, None] * mean_y[None, :]
        sq_x = (sq_x - sums.count * mean_x.square()).clamp_min(0)
        sq_y = (sq_y - sums.count * mean_y.square()).clamp_min(0)
        metric = "cosine"
    return cost_from_inner_products(cross, sq_x, sq_y, metric=metric, squared=squared)


def cost_from_inner_products(
    cross: Tensor, sq_x: Tensor, sq_y: Tensor, *, metric: Metric = "euclidean", squared: bool = False
) -> Tensor:
    """The cost of :func:`pairwise_cost` from ``x @ y.T`` and the rows' squared norms.

    Lets callers accumulate the three terms over batches instead of keeping all features.
    ``"correlation"`` needs the rows' sums too: use :func:`cost_from_sums`.
    """
    if metric == "correlation":
        raise ValueError("the correlation metric needs the rows' sums: use cost_from_sums")
    if metric == "cosine":
        norm_x, norm_y = sq_x.clamp_min(1e-30).sqrt(), sq_y.clamp_min(1e-30).sqrt()
        cross = cross / (norm_x[:, None] * norm_y[None, :])
        sq_x, sq_y = torch.ones_like(sq_x), torch.ones_like(sq_y)
    squared_distance = (sq_x[:, None] + sq_y[None, :] - 2 * cross).clamp_min(0)
    return squared_distance if squared else squared_distance.sqrt()


def neuron_marginals(norms: Tensor, kind: MarginalKind = "uniform") -> Tensor:
    """A probability vector over neurons: uniform, or proportional to ``norms`` ("importance").

    Importance marginals are mixed with :data:`IMPORTANCE_FLOOR` of uniform mass so that every
    neuron receives some.
    """
    n = norms.shape[0]
    uniform = torch.full((n,), 1.0 / n, dtype=torch.float64)
    if kind == "uniform":
        return uniform
    weights = norms.detach().to(torch.float64).clamp_min(0)
    total = weights.sum()
    if not torch.isfinite(total) or total <= 0:
        return uniform
    return (1 - IMPORTANCE_FLOOR) * weights / total + IMPORTANCE_FLOOR * uniform


def transport_plan(
    cost: Tensor, a: Tensor, b: Tensor, *, solver: Solver = "exact", reg: float = 0.01
) -> TransportPlan:
    """Couple marginals ``a`` (rows) and ``b`` (columns) at least cost.

    ``"exact"`` solves the linear program: with equal sizes and uniform marginals this is an
    assignment problem (``scipy.optimize.linear_sum_assignment``), otherwise ``ot.emd``.
    ``"sinkhorn"`` solves the entropic problem with log-domain stabilisation (``ot.sinkhorn``,
    ``method="sinkhorn_stabilized"``, safe for small ``reg``) on the cost divided by its mean,
    so ``reg`` is scale-free; it stops when the marginals are met to about 1e-4 relative.
    """
    cost64 = cost.detach().to("cpu", torch.float64)
    a64, b64 = a.detach().to("cpu", torch.float64), b.detach().to("cpu", torch.float64)
    if solver == "exact" and _is_assignment(a64, b64):
        rows, columns = linear_sum_assignment(cost64.numpy())
        permutation = torch.as_tensor(rows[np.argsort(columns)], dtype=torch.long)
        coupling = torch.zeros_like(cost64)
        coupling[permutation, torch.arange(len(permutation))] = 1.0 / len(permutation)
        return TransportPlan(coupling, permutation)
    if solver == "exact":
        coupling = ot.emd(a64.numpy(), b64.numpy(), cost64.numpy(), numItermax=EMD_MAX_ITERATIONS)
        return TransportPlan(torch.as_tensor(coupling))
    scale = cost64.mean()
    normalised = cost64 / scale if scale > 0 else cost64
    coupling = ot.sinkhorn(
        a64.numpy(), b64.numpy(), normalised.numpy(), reg,
        method="sinkhorn_stabilized", numItermax=SINKHORN_MAX_ITERATIONS, stopThr=1e-4 / max(cost64.shape),
    )  # fmt: skip
    coupling = torch.as_tensor(coupling)
    if not bool(torch.isfinite(coupling).all()) or float(coupling.sum()) <= 0:
        raise ValueError(
            f"Sinkhorn with reg={reg} gave a non-finite or empty plan for a {tuple(cost64.shape)} cost; "
            "raise reg (0.01 is safe) or use the exact solver"
        )
    return TransportPlan(coupling)


def _is_assignment(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and bool((a == a[0]).all()) and bool((b == b[0]).all())
