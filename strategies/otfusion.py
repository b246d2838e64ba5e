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
from fedot.fusion.api import options_reading_inputs
from fedot.fusion.distill import distill


@dataclass(frozen=True)
class FusionSettings:
    """How the server fuses: the options of ``fedot.fusion.fuse`` that a run chooses.

    ``inputs`` are server-held, unlabelled batches: required by activation alignment, repair,
    predicted output weights, the ``"select"`` options and the guard; unused otherwise.
    ``align="none"`` is plain averaging (FedAvg's aggregate, plus repair when asked).
    """

    align: Literal["weights", "activations", "none", "select"] = "weights"
    solver: Literal["exact", "sinkhorn"] = "exact"
    reg: float = 0.05
    metric: Literal["euclidean", "cosine", "correlation"] = "euclidean"
    anchor: Literal["largest", "first", "select"] = "largest"
    iterations: int = 0
    refine: int = 0
    repair: bool = False
    output_weights: Literal["examples", "predicted", "select"] = "examples"
    guard: bool = False
    inputs: Sequence[torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.needs_inputs and not self.inputs:
            raise ValueError(
                "activation alignment, repair, predicted output weights, 'select' options and the guard "
                "need server-held inputs: pass inputs=[batches], or use align='weights', anchor='largest', "
                "repair=False, output_weights='examples' and guard=False"
            )

    @property
    def needs_inputs(self) -> bool:
        return bool(options_reading_inputs(
            align=self.align, anchor=self.anchor, output_weights=self.output_weights, guard=self.guard, repair=self.repair,
        ))  # fmt: skip

    def options(self) -> dict[str, object]:
        """The settings as printable plain values (``inputs`` summarised)."""
        values = {k: v for k, v in vars(self).items() if k != "inputs"}
        values["inputs"] = sum(len(batch) for batch in self.inputs) if self.inputs else 0
        return values


@dataclass(frozen=True)
class DistillSettings:
    """Fuse-then-distill (``fedot.fusion.distill``) on the server-held inputs after aggregating."""

    steps: int = 100
    lr: float = 1e-4
    target: Literal["ensemble", "confident"] = "confident"
    temperature: float = 1.0
    batch_size: int = 64


def fuse_models(
    models: Sequence[nn.Module],
    weights: Sequence[float],
    fusion: FusionSettings,
    distillation: DistillSettings | None = None,
    report: dict[str, object] | None = None,
) -> nn.Module:
    """The clients' models fused as ``fusion`` says, then distilled when ``distillation`` is set.

    What ``OTFusion.aggregate_train`` does with the replies' models, as a plain function (the
    benchmark grid calls it too). One model is returned as it is (before distillation).
    """
    if len(models) == 1:
        fused = models[0]
    else:
        fused = fuse(
            models,
            weights,
            align=fusion.align,
            inputs=fusion.inputs if fusion.needs_inputs else None,
            solver=fusion.solver,
            reg=fusion.reg,
            metric=fusion.metric,
            anchor={"largest": "largest_weight", "first": 0, "select": "select"}[fusion.anchor],
            iterations=fusion.iterations,
            refine=fusion.refine,
            repair=fusion.repair,
            output_weights=fusion.output_weights,
            guard=fusion.guard,
            report=report,
        )
    if distillation is None:
        return fused
    if not fusion.inputs:
        raise ValueError("distillation needs server-held inputs: set server-samples > 0")
    return distill(
        fused, models, weights, inputs=fusion.inputs, steps=distillation.steps, lr=distillation.lr,
        target=distillation.target, temperature=distillation.temperature, batch_size=distillation.batch_size,
    )  # fmt: skip


class OTFusion(FedAvg):
    """Flower strategy: optimal-transport fusion of the clients' models (Singh & Jaggi 2020).

    ``model_fn`` builds an untrained model of the federation's architecture; the
    fused weights are loaded into models built by it. ``distillation``, when set,
    trains the fused model on the server-held inputs afterwards (run it under its
    own strategy name, e.g. ``otfusion+distill``: it is not pure fusion). All other
    arguments are FedAvg's.
    """

    def __init__(
        self,
        model_fn: Callable[[], nn.Module],
        fusion: FusionSettings = FusionSettings(),
        distillation: DistillSettings | None = None,
        **fedavg_options: object,
    ) -> None:
        super().__init__(**fedavg_options)  # type: ignore[arg-type]
        self.model_fn = model_fn
        self.fusion = fusion
        self.distillation = distillation

    def summary(self) -> None:
        super().summary()
        log(INFO, "\t└──> OT fusion: %s", self.fusion.options())
        if self.distillation is not None:
            log(INFO, "\t└──> then distillation: %s", vars(self.distillation))

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
        report: dict[str, object] = {}
        fused = fuse_models(models, weights, self.fusion, self.distillation, report)
        if "chosen" in report:
            log(INFO, "[round %d] fusion kept candidate: %s", server_round, report["chosen"])
        metrics = self.train_metrics_aggr_fn(contents, self.weighted_by_key)
        return ArrayRecord(fused.state_dict()), metrics

    def _model_from(self, content: RecordDict) -> nn.Module:
        model = self.model_fn()
        arrays = next(iter(content.array_records.values()))
        model.load_state_dict(arrays.to_torch_state_dict())
        return model.eval()


def _metrics_of(content: RecordDict) -> MetricRecord:
    return next(iter(content.metric_records.values()))
