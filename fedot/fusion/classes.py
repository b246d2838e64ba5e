"""Per-class weights for the output layer: each class averaged mostly from the clients that know it.

Under label skew a client's output row for a class it never saw is trained only to push that
class down. Averaging output rows with the clients' example counts lets those rows dilute the
rows of the clients that did see the class. :func:`class_shares` estimates, without labels,
how many examples of each class every client had: its example-count share times the mean
softmax probability it gives that class on server-held inputs (a model's predictions on
representative inputs follow its training label mix). The output layer's row ``c`` is then
averaged with weights proportional to those estimates, normalised over clients per class.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.fx
import torch.nn.functional as F
from torch import Tensor, nn

from fedot.fusion.activations import eval_mode
from fedot.fusion.groups import Structure


def class_shares(models: Sequence[nn.Module], shares: Sequence[float], batches: Sequence[Tensor]) -> Tensor:
    """A (models × classes) float64 matrix whose columns sum to 1: each class's weight per model.

    Model ``i``'s weight for class ``c`` is proportional to ``shares[i]`` times its mean
    predicted probability of ``c`` on ``batches``; models with share 0 get 0. A class no model
    predicts at all falls back to ``shares``.
    """
    if not batches:
        raise ValueError("class_shares needs server-held inputs (at least one batch)")
    rows = []
    with eval_mode(models), torch.no_grad():
        for model, share in zip(models, shares):
            if share == 0:
                rows.append(None)
                continue
            total, count = None, 0
            for x in batches:
                probabilities = F.softmax(model(x).double(), dim=1).sum(0)
                total = probabilities if total is None else total + probabilities
                count += len(x)
            rows.append(share * total.cpu() / count)
    classes = next(row for row in rows if row is not None).shape[0]
    mass = torch.stack([row if row is not None else torch.zeros(classes, dtype=torch.float64) for row in rows])
    fallback = torch.tensor(list(shares), dtype=torch.float64)[:, None].expand_as(mass)
    totals = mass.sum(0, keepdim=True)
    return torch.where(totals > 0, mass / totals.clamp_min(1e-300), fallback)


def output_tensors(structure: Structure, model: nn.Module) -> tuple[str, ...]:
    """The state-dict names of the layer producing the model's output, whose axis 0 is the class.

    Raises ``ValueError`` unless the traced graph's output is a ``Linear`` layer's output (as in
    every model of ``fedot.models``).
    """
    output = next(node for node in structure.graph.nodes if node.op == "output")
    value = output.args[0]
    if isinstance(value, torch.fx.Node) and value.op == "call_module":
        layer = model.get_submodule(str(value.target))
        if isinstance(layer, nn.Linear):
            names = [f"{value.target}.weight"] + ([f"{value.target}.bias"] if layer.bias is not None else [])
            return tuple(names)
    raise ValueError(
        "output_weights='predicted' needs a model whose output is a Linear layer's output; "
        f"this model's output is computed by {value!r}: use output_weights='examples'"
    )
