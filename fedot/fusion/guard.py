"""Choosing among candidate fused models without labels: agreement with confident-client labels.

The criterion, on a few server-held *unlabelled* inputs:

1. **Confident-client labels.** Every input gets the class predicted by the client model that
   is most confident on it (highest top softmax probability). Under label skew a client that
   saw an input's class is usually the most confident one, so these labels are far more
   accurate than the prediction ensemble's when clients are specialised, and equal to a
   typical client's when they are not.
2. **Score.** A candidate's *agreement* is the fraction of inputs whose predicted class equals
   the confident-client label; ties go to the candidate listed first (the mean cross-entropy
   against the labels is reported too, but not used: it rewards over-confident models).
3. **Baseline.** With a ``baseline`` (the guard's plain average), the best other candidate
   replaces it only when it wins significantly: on the inputs where exactly one of the two
   agrees with the label, wins − losses > ``z``·√(wins + losses) (a one-sided McNemar test,
   ``z = 1`` by default). Near-ties keep the baseline, so small, unproven gains — which can
   compound over rounds (REPAIR rescaling a model that is fused again and again) — are not taken.

:func:`choose` returns the chosen candidate. The ensemble's own soft predictions
are deliberately *not* the criterion: a fused model after REPAIR is sharper than an average of
disagreeing clients, so a divergence to the ensemble punishes exactly the better models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fedot.fusion.activations import eval_mode


@dataclass(frozen=True)
class Score:
    """How well a model agrees with the confident-client labels (higher agreement is better)."""

    agreement: float
    cross_entropy: float
    """Reported, not compared."""

    def key(self) -> float:
        return self.agreement


SIGNIFICANCE_Z = 1.0
"""How many standard deviations a candidate must beat the baseline by (see the module docstring)."""


@dataclass(frozen=True)
class Choice:
    """The chosen candidate's ``name`` and ``model``, and every candidate's score."""

    name: str
    model: nn.Module
    scores: dict[str, Score]


def confident_client_labels(models: Sequence[nn.Module], batches: Sequence[Tensor]) -> list[Tensor]:
    """Per batch, each input's class as predicted by the model most confident on that input."""
    if not models:
        raise ValueError("confident_client_labels needs at least one model")
    labels = []
    with eval_mode(models), torch.no_grad():
        for x in batches:
            probabilities = torch.stack([F.softmax(model(x).float(), dim=1) for model in models])
            confidence, predicted = probabilities.max(dim=2)  # (models, batch)
            most_confident = confidence.argmax(dim=0)
            labels.append(predicted.gather(0, most_confident[None]).squeeze(0))
    return labels


def score(model: nn.Module, batches: Sequence[Tensor], labels: Sequence[Tensor]) -> Score:
    """``model``'s agreement with ``labels`` on ``batches`` and its mean cross-entropy against them."""
    hits, loss = _hits(model, batches, labels)
    return Score(float(hits.float().mean()), loss)


def _hits(model: nn.Module, batches: Sequence[Tensor], labels: Sequence[Tensor]) -> tuple[Tensor, float]:
    """Per input, whether ``model`` predicts the label; and the mean cross-entropy."""
    hits, loss, count = [], 0.0, 0
    with eval_mode([model]), torch.no_grad():
        for x, y in zip(batches, labels):
            logits = model(x).float()
            hits.append((logits.argmax(dim=1) == y).cpu())
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            count += len(y)
    return torch.cat(hits), loss / count


def choose(
    candidates: Mapping[str, nn.Module],
    models: Sequence[nn.Module],
    batches: Sequence[Tensor],
    baseline: str | None = None,
    z: float = SIGNIFICANCE_Z,
) -> Choice:
    """The candidate that agrees best with the confident-client labels of ``models`` on ``batches``.

    Without ``baseline``: the highest agreement (the first listed wins ties). With ``baseline``
    (a key of ``candidates``): the best other candidate only if it beats the baseline
    significantly (module docstring), else the baseline. Guarantee: the chosen candidate's
    agreement is at least the baseline's, so with plain averaging as the baseline the choice
    is never worse than plain averaging on this criterion.
    """
    if not candidates:
        raise ValueError("choose needs at least one candidate model")
    if not batches:
        raise ValueError("choose needs server-held inputs (at least one batch)")
    if baseline is not None and baseline not in candidates:
        raise ValueError(f"baseline {baseline!r} is not among the candidates {list(candidates)}")
    if not z >= 0:
        raise ValueError(f"z must be ≥ 0, got {z}")
    labels = confident_client_labels(models, batches)
    hits, scores = {}, {}
    for name, model in candidates.items():
        hits[name], loss = _hits(model, batches, labels)
        scores[name] = Score(float(hits[name].float().mean()), loss)
    others = [name for name in candidates if name != baseline]
    if not others:
        return Choice(baseline, candidates[baseline], scores)
    best = max(others, key=lambda name: scores[name].key())  # max keeps the first of equal keys
    if baseline is not None:
        wins = int((hits[best] & ~hits[baseline]).sum())
        losses = int((~hits[best] & hits[baseline]).sum())
        if not wins - losses > z * math.sqrt(wins + losses):
            best = baseline
    return Choice(best, candidates[best], scores)
