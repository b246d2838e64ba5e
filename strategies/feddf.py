"""``FedDF``: FedAvg, then distillation of the average on the server's unlabelled inputs (Lin et al. 2020).

fedot's ``fedavg+distill`` baseline: the training-based counterpart of ``otfusion+distill``
(the distillation target is fedot's, :class:`~fedot.recipe.DistillRecipe`), reported apart
from pure fusion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from logging import INFO
from typing import Any

import torch
from flwr.app import ArrayRecord, Message, MetricRecord
from flwr.common import log
from flwr.serverapp.strategy import FedAvg
from torch import nn

from fedot.aggregation import Aggregation
from fedot.recipe import DistillRecipe
from strategies.replies import aggregate_replies


class FedDF(FedAvg):
    """Flower strategy: the example-weighted average, distilled toward the clients' predictions.

    ``model_fn`` builds an untrained model of the federation's architecture; ``server_inputs``
    are the server's unlabelled batches (required); ``distillation`` says how long and toward
    which target. ``fedavg_options`` are FedAvg's arguments.
    """

    def __init__(
        self,
        model_fn: Callable[[], nn.Module],
        server_inputs: Sequence[torch.Tensor],
        distillation: DistillRecipe = DistillRecipe(),
        **fedavg_options: Any,
    ) -> None:
        super().__init__(**fedavg_options)
        if not server_inputs:
            raise ValueError("FedDF distils on server-held inputs: pass server_inputs=[batches]")
        self.aggregation = Aggregation("fedavg+distill", None, distillation)
        self.model_fn = model_fn
        self.server_inputs = list(server_inputs)

    def summary(self) -> None:
        log(INFO, "\t├──> distillation: %s", self.aggregation.distillation)
        super().summary()

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Average the valid replies' models, distil the average; aggregate metrics as FedAvg does."""
        return aggregate_replies(self, server_round, replies, self.aggregation, self.model_fn, self.server_inputs)
