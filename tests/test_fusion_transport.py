"""Costs, marginals and transport plans as pure tensor functions."""

import pytest
import torch

from fedot.fusion.transport import neuron_marginals, pairwise_cost, transport_plan

G = torch.Generator().manual_seed(0)


@pytest.mark.parametrize("squared", [False, True])
def test_euclidean_cost_matches_cdist(squared: bool) -> None:
    x, y = torch.randn(7, 5, generator=G, dtype=torch.float64), torch.randn(4, 5, generator=G, dtype=torch.float64)
    expected = torch.cdist(x, y) ** (2 if squared else 1)
    torch.testing.assert_close(pairwise_cost(x, y, squared=squared), expected)


def test_cosine_cost_ignores_scale() -> None:
    x = torch.randn(6, 3, generator=G, dtype=torch.float64)
    torch.testing.assert_close(pairwise_cost(x, 5 * x, metric="cosine").diagonal(), torch.zeros(6, dtype=torch.float64), atol=1e-6, rtol=0)
    unit = x / x.norm(dim=1, keepdim=True)
    torch.testing.assert_close(pairwise_cost(x, 3 * x, metric="cosine"), torch.cdist(unit, unit), atol=1e-6, rtol=0)


def test_exact_plan_recovers_a_permutation() -> None:
    x = torch.randn(9, 4, generator=G)
    order = torch.randperm(9, generator=G)
    plan = transport_plan(pairwise_cost(x, x[order]), neuron_marginals(torch.ones(9)), neuron_marginals(torch.ones(9)))
    assert torch.equal(plan.permutation, order)
    torch.testing.assert_close(plan.outgoing(), torch.eye(9, dtype=torch.float64)[:, order])


@pytest.mark.parametrize("solver", ["exact", "sinkhorn"])
def test_plans_between_different_sizes_meet_their_marginals(solver: str) -> None:
    cost = torch.rand(6, 4, generator=G, dtype=torch.float64)
    a = neuron_marginals(torch.rand(6, generator=G) + 0.1, "importance")
    b = neuron_marginals(torch.ones(4))
    plan = transport_plan(cost, a, b, solver=solver, reg=0.1)
    assert plan.permutation is None
    torch.testing.assert_close(plan.coupling.sum(1), a, atol=1e-5, rtol=0)
    torch.testing.assert_close(plan.coupling.sum(0), b, atol=1e-5, rtol=0)
    torch.testing.assert_close(plan.outgoing().sum(0), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(plan.incoming().sum(1), torch.ones(6, dtype=torch.float64))


def test_sinkhorn_softens_as_reg_grows() -> None:
    cost = torch.rand(5, 5, generator=G, dtype=torch.float64)
    u = neuron_marginals(torch.ones(5))
    sharp = transport_plan(cost, u, u, solver="sinkhorn", reg=0.02).coupling
    soft = transport_plan(cost, u, u, solver="sinkhorn", reg=10.0).coupling
    assert sharp.max() > 0.9 / 5 and soft.max() < 1.1 / 25


def test_importance_marginals_are_a_distribution_giving_every_neuron_mass() -> None:
    m = neuron_marginals(torch.tensor([0.0, 1.0, 3.0]), "importance")
    assert torch.isclose(m.sum(), torch.tensor(1.0, dtype=torch.float64)) and (m > 0).all() and m[2] > m[1] > m[0]
