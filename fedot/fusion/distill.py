"""Fuse-then-distill: a few steps teaching a fused model the clients' predictions on unlabelled inputs.

The FedDF idea (Lin et al. 2020) on server-held, unlabelled examples: the student (a fused or
averaged model) is trained to match soft targets computed from the client models. Two targets:

* ``"ensemble"`` — the clients' weighted mean softmax (FedDF's teacher);
* ``"confident"`` — per input, the softmax of the client most confident on it (the soft form of
  the guard's confident-client labels, :mod:`fedot.fusion.guard`). Under label skew the mean
  softmax is diluted by clients that never saw an input's class; the most confident client
  usually did.

This is training, not fusion: results that use it must be reported separately from pure fusion.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fedot.fusion.activations import Inputs, as_batches, eval_mode
from fedot.fusion.checks import check_models, normalised_weights
from fedot.fusion.repair import reset_batchnorm_statistics
from fedot.recipe import DistillRecipe


def distill(
    student: nn.Module,
    teachers: Sequence[nn.Module],
    weights: Sequence[float] | None = None,
    *,
    inputs: Inputs,
    recipe: DistillRecipe = DistillRecipe(),
    seed: int = 0,
) -> nn.Module:
    """A copy of ``student`` trained for ``recipe.steps`` Adam steps to match the teachers' predictions.

    The target of an input (``recipe.target``, see the module docstring) is the most confident
    teacher's softmax, or the ``weights``-weighted mean of the teachers' softmax, at the
    recipe's temperature; teachers with weight 0 are ignored. The loss is the KL divergence
    from it to the student's softmax at the same temperature, times temperature². Batches of
    ``recipe.batch_size`` are drawn from ``inputs`` (unlabelled; a tensor or batches) in a
    seeded order. BatchNorm statistics are re-estimated on ``inputs`` afterwards. Neither the
    student nor the teachers are modified.
    """
    check_models(teachers, minimum=1)
    shares = normalised_weights(weights, len(teachers))
    steps, lr, temperature, batch_size = recipe.steps, recipe.lr, recipe.temperature, recipe.batch_size
    examples = torch.cat(as_batches(inputs))
    if recipe.target == "ensemble":
        targets = ensemble_probabilities(teachers, shares, examples, temperature)
    else:
        weighted = [teacher for teacher, share in zip(teachers, shares) if share > 0]
        targets = confident_probabilities(weighted, examples, temperature)
    result = copy.deepcopy(student)
    modes = {module: module.training for module in result.modules()}
    optimizer = torch.optim.Adam(result.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    result.train()
    order = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        if len(order) < batch_size:
            order = torch.cat([order, torch.randperm(len(examples), generator=generator)])
        batch, order = order[:batch_size].to(examples.device), order[batch_size:]
        log_probs = F.log_softmax(result(examples[batch]).float() / temperature, dim=1)
        loss = F.kl_div(log_probs, targets[batch], reduction="batchmean") * temperature**2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    reset_batchnorm_statistics(result, as_batches(examples))
    for module, training in modes.items():
        module.train(training)
    return result


def ensemble_probabilities(
    models: Sequence[nn.Module], shares: Sequence[float], examples: Tensor, temperature: float = 1.0
) -> Tensor:
    """The ``shares``-weighted mean of the models' softmax (at ``temperature``) on ``examples``."""
    with eval_mode(models), torch.no_grad():
        total = None
        for model, share in zip(models, shares):
            if share == 0:
                continue
            term = share * F.softmax(model(examples).float() / temperature, dim=1)
            total = term if total is None else total + term
    return total


def confident_probabilities(models: Sequence[nn.Module], examples: Tensor, temperature: float = 1.0) -> Tensor:
    """Per example, the softmax (at ``temperature``) of the model most confident on it."""
    with eval_mode(models), torch.no_grad():
        logits = torch.stack([model(examples).float() for model in models])
    confidence = F.softmax(logits, dim=2).amax(dim=2)  # (models, examples)
    chosen = logits[confidence.argmax(dim=0), torch.arange(logits.shape[1], device=logits.device)]
    return F.softmax(chosen / temperature, dim=1)
