"""``OTFusion``: FedAvg whose aggregation aligns the clients' neurons by optimal transport first.

Sampling, configuration, evaluation and metric aggregation are FedAvg's; only
``aggregate_train`` differs: the replies' models are fused by ``fedot.fusion`` as the
:class:`~fedot.recipe.Recipe` says (weighted by ``num-examples``) instead of averaged
coordinate by coordinate. One round on clients trained to convergence is the paper's
one-shot fusion; several rounds fuse, broadcast and repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from logging import INFO

import torch
from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict
from flwr.common import log
from flwr.serverapp.strategy import FedAvg
from torch import nn

from fedot.aggregation import Aggregation
from fedot.messages import ARRAYS, CONFIG, NUM_EXAMPLES
from fedot.recipe import DistillRecipe, Recipe
from strategies.replies import aggregate_replies

MetricsAggregation = Callable[[list[RecordDict], str], MetricRecord]


class OTFusion(FedAvg):
    """Flower strategy: optimal-transport fusion of the clients' models (Singh & Jaggi 2020).

    ``model_fn`` builds an untrained model of the federation's architecture (the fused weights
    are loaded into one). ``recipe`` says how to fuse; ``server_inputs`` are the server's
    unlabelled batches, preprocessed like the clients' data, which the recipe's activation
    alignment, repair, selection and guard read (it refuses, at construction, to need them
    without them). ``distillation``, when set, trains the fused model on those inputs afterwards
    (run it under its own name, ``otfusion+distill``: it is not pure fusion). The other
    arguments are FedAvg's.
    """

    def __init__(  # noqa: PLR0913  (FedAvg's arguments, spelled out)
        self,
        model_fn: Callable[[], nn.Module],
        recipe: Recipe = Recipe(),
        server_inputs: Sequence[torch.Tensor] | None = None,
        distillation: DistillRecipe | None = None,
        *,
        fraction_train: float = 1.0,
        fraction_evaluate: float = 1.0,
        min_train_nodes: int = 2,
        min_evaluate_nodes: int = 2,
        min_available_nodes: int = 2,
        weighted_by_key: str = NUM_EXAMPLES,
        arrayrecord_key: str = ARRAYS,
        configrecord_key: str = CONFIG,
        train_metrics_aggr_fn: MetricsAggregation | None = None,
        evaluate_metrics_aggr_fn: MetricsAggregation | None = None,
    ) -> None:
        super().__init__(
            fraction_train=fraction_train,
            fraction_evaluate=fraction_evaluate,
            min_train_nodes=min_train_nodes,
            min_evaluate_nodes=min_evaluate_nodes,
            min_available_nodes=min_available_nodes,
            weighted_by_key=weighted_by_key,
            arrayrecord_key=arrayrecord_key,
            configrecord_key=configrecord_key,
            train_metrics_aggr_fn=train_metrics_aggr_fn,
            evaluate_metrics_aggr_fn=evaluate_metrics_aggr_fn,
        )
        name = "otfusion" if distillation is None else "otfusion+distill"
        self.aggregation = Aggregation(name, recipe, distillation)
        if self.aggregation.reads_inputs() and not server_inputs:
            options = ", ".join(recipe.reads_inputs()) or "distillation"
            raise ValueError(
                f"this recipe reads server-held inputs ({options}): pass server_inputs=[batches], or use "
                "fedot.recipe.Recipe().data_free() (no distillation)"
            )
        self.model_fn = model_fn
        self.server_inputs = list(server_inputs) if server_inputs else None

    def summary(self) -> None:
        """Log the recipe, then FedAvg's settings."""
        log(INFO, "\t├──> OT fusion recipe: %s", self.aggregation.fusion)
        if self.aggregation.distillation is not None:
            log(INFO, "\t├──> then distillation: %s", self.aggregation.distillation)
        inputs = sum(len(batch) for batch in self.server_inputs) if self.server_inputs else 0
        log(INFO, "\t│\t└── server-held inputs: %d", inputs)
        super().summary()

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Fuse the valid replies' models; aggregate their metrics as FedAvg does."""
        return aggregate_replies(self, server_round, replies, self.aggregation, self.model_fn, self.server_inputs)
