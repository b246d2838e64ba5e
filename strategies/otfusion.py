"""``OTFusion``: FedAvg whose aggregation aligns the clients' neurons by optimal transport first.

Sampling, configuration, evaluation and metric aggregation are FedAvg's; only
``aggregate_train`` differs: the replies' models are fused with
``fedot.fusion.fuse`` (weighted by ``num-examples``) instead of averaged
coordinate by coordinate. One round on clients trained to convergence is the
paper's one-shot fusion; several rounds fuse, broadcast and repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from logging import INFO
from typing import Literal

import torch
from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict
from flwr.common import log
from flwr.serverapp.strategy import FedAvg
from torch import nn

from fedot.fusion import fuse


@dataclass(frozen=True)
class FusionSettings:
    """How the server fuses: the options of ``fedot.fusion.fuse`` that a run chooses.

    ``inputs`` are server-held, unlabelled batches: required for activation
    alignment and for repair, unused otherwise.
    """

    align: Literal["weights", "activations"] = "weights"
    solver: Literal["exact", "sinkhorn"] = "exact"
    reg: float = 0.05
    anchor: Literal["largest", "first"] = "largest"
    iterations: int = 0
    repair: bool = False
    inputs: Sequence[torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if (self.align == "activations" or self.repair) and not self.inputs:
            raise ValueError(
                "activation alignment and repair need server-held inputs: pass inputs=[batches], "
                "or use align='weights' and repair=False"
            )


class OTFusion(FedAvg):
    """Flower strategy: optimal-transport fusion of the clients' models (Singh & Jaggi 2020).

    ``model_fn`` builds an untrained model of the federation's architecture; the
    fused weights are loaded into models built by it. All other arguments are
    FedAvg's.
    """

    def __init__(
        self,
        model_fn: Callable[[], nn.Module],
        fusion: FusionSettings = FusionSettings(),
        **fedavg_options: object,
    ) -> None:
        super().__init__(**fedavg_options)  # type: ignore[arg-type]
        self.model_fn = model_fn
        self.fusion = fusion

    def summary(self) -> None:
        super().summary()
        settings = {k: v for k, v in vars(self.fusion).items() if k != "inputs"}
        log(INFO, "\t└──> OT fusion: %s", settings)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Fuse the valid replies' models; aggregate their metrics as FedAvg does."""
        valid, _ = self._check_and_log_replies(replies, is_train=True)
        if not valid:
            return None, None
        contents = [message.content for message in valid]
        models = [self._model_from(content) for content in contents]
        weights = [float(_metrics_of(content)[self.weighted_by_key]) for content in contents]
        if len(models) == 1:
            fused = models[0]
        else:
            fused = fuse(
                models,
                weights,
                align=self.fusion.align,
                inputs=self.fusion.inputs if self.fusion.align == "activations" else None,
                solver=self.fusion.solver,
                reg=self.fusion.reg,
                anchor="largest_weight" if self.fusion.anchor == "largest" else 0,
                iterations=self.fusion.iterations,
                repair=self.fusion.inputs if self.fusion.repair else None,
            )
        metrics = self.train_metrics_aggr_fn(contents, self.weighted_by_key)
        return ArrayRecord(fused.state_dict()), metrics

    def _model_from(self, content: RecordDict) -> nn.Module:
        model = self.model_fn()
        arrays = next(iter(content.array_records.values()))
        model.load_state_dict(arrays.to_torch_state_dict())
        return model.eval()


def _metrics_of(content: RecordDict) -> MetricRecord:
    return next(iter(content.metric_records.values()))
