"""fedot's Flower ServerApp: run each configured strategy on the same federation and report.

Strategies listed in the run config's ``strategy`` run one after the other on
the same nodes, from the same initial model, with clients that train
deterministically — so their numbers differ only by how the server aggregates.
Each round the server evaluates the global model on the central test set and,
with ``evaluate-clients``, every client's own model and their prediction
ensemble. Results go to ``output-dir`` (see ``fedot.results``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from logging import INFO
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord
from flwr.common import log
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg, Strategy
from torch import nn

from fedot.aggregation import Aggregation
from fedot.config import RunConfig
from fedot.data import ImageDataset
from fedot.data.partition_report import label_histogram, plot_label_histogram
from fedot.federation import client_partitions, initial_model, server_batches, server_dataset
from fedot.messages import TrainMetrics, reply_arrays, reply_metrics
from fedot.monitor import FederationError, MonitoredGrid, RunEvents
from fedot.results import PARTITION_PLOT, ClientReport, RoundReport, StrategyReport, format_table, write_results
from fedot.train import evaluate, evaluate_ensemble
from strategies.feddf import FedDF
from strategies.otfusion import OTFusion

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run every strategy of the run config, then write results.json, rounds.csv and plots."""
    config = RunConfig.from_flower(context.run_config)
    output = output_folder(config, context.run_id)
    events = RunEvents(output / "events.jsonl")
    dataset = server_dataset(config)
    inputs = server_batches(config, dataset)
    events.emit("start", strategies=list(config.strategies), rounds=config.rounds, clients=config.clients)
    reports = [run_strategy(aggregation, config, grid, dataset, inputs, events) for aggregation in config.aggregations()]
    histogram = label_histogram(dataset.train_labels.cpu(), client_partitions(config), dataset.num_classes)
    plot_label_histogram(histogram, output / PARTITION_PLOT, dataset.classes, title=f"{config.clients} clients, {config.partition}")
    path = write_results(output, config.to_flower(), reports, histogram.tolist())
    log(INFO, "fedot results written to %s\n%s", path, format_table(reports))
    events.emit("done", results=str(path))


def run_strategy(
    aggregation: Aggregation,
    config: RunConfig,
    grid: Grid,
    dataset: ImageDataset,
    inputs: list[torch.Tensor] | None,
    events: RunEvents,
) -> StrategyReport:
    """Run one strategy for ``config.rounds`` rounds and report what it did; never raises for a failed round."""
    name = aggregation.name
    report = StrategyReport(name)
    monitored = MonitoredGrid(
        grid, events, name, expected_nodes=config.clients, min_replies=config.min_replies,
        node_timeout=config.node_timeout,
    )
    model_fn = functools.partial(initial_model, config, dataset)
    strategy = build_strategy(aggregation, config, model_fn, inputs)
    timer = AggregationTimer(strategy)
    start = time.perf_counter()
    try:
        strategy.start(
            grid=monitored,
            initial_arrays=ArrayRecord(model_fn().state_dict()),
            num_rounds=config.rounds,
            timeout=config.round_timeout,
            train_config=ConfigRecord(),
            evaluate_fn=RoundEvaluator(config, dataset, model_fn, monitored, timer, report, events),
        )
    except FederationError as error:
        report.error = str(error)
        log(INFO, "[%s] stopped: %s", name, error)
    report.wall_seconds = time.perf_counter() - start
    report.failures = monitored.failures
    events.emit("strategy-done", strategy=name, error=report.error, summary=report.summary())
    return report


def build_strategy(
    aggregation: Aggregation, config: RunConfig, model_fn: Callable[[], nn.Module], inputs: list[torch.Tensor] | None
) -> Strategy:
    """The Flower strategy that runs ``aggregation`` with the run config's sampling and metrics."""
    options: dict[str, Any] = {
        "fraction_train": 1.0,
        "fraction_evaluate": 1.0 if config.val_fraction > 0 else 0.0,
        "min_train_nodes": min(config.min_replies, config.clients),
        "min_evaluate_nodes": min(config.min_replies, config.clients),
        "min_available_nodes": min(config.min_replies, config.clients),
        "train_metrics_aggr_fn": aggregate_client_metrics,
        "evaluate_metrics_aggr_fn": aggregate_client_metrics,
    }
    if aggregation.fusion is not None:
        return OTFusion(model_fn, aggregation.fusion, inputs, aggregation.distillation, **options)
    if aggregation.distillation is not None:
        return FedDF(model_fn, inputs, aggregation.distillation, **options)
    return FedAvg(**options)


def aggregate_client_metrics(contents: list[Any], weight_key: str) -> MetricRecord:
    """Example-weighted means of the clients' losses and accuracies; totals of examples and seconds."""
    metrics = [reply_metrics(content) for content in contents]
    weights = [float(m[weight_key]) for m in metrics]
    total = sum(weights)
    result = MetricRecord({weight_key: int(total), "clients": len(metrics)})
    for key in metrics[0]:
        if key.endswith(("-loss", "-accuracy")):
            result[key] = sum(float(m[key]) * w for m, w in zip(metrics, weights)) / total
        elif key.endswith("-seconds"):
            result[key] = sum(float(m[key]) for m in metrics)
    return result


class RoundEvaluator:
    """Flower's ``evaluate_fn``: test the global model each round; record clients and ensemble too."""

    def __init__(
        self,
        config: RunConfig,
        dataset: ImageDataset,
        model_fn: Callable[[], nn.Module],
        grid: MonitoredGrid,
        timer: AggregationTimer,
        report: StrategyReport,
        events: RunEvents,
    ) -> None:
        self.config = config
        self.dataset = dataset
        self.model_fn = model_fn
        self.grid = grid
        self.timer = timer
        self.report = report
        self.events = events

    def __call__(self, server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = self._model(arrays)
        result = evaluate(model, self.dataset)
        round_report = RoundReport(server_round, result.accuracy, result.loss)
        round_report.aggregation_seconds = self.timer.seconds.get(server_round, 0.0)
        if server_round > 0:
            replies = self.grid.last_train_replies
            round_report.client_train_seconds = sum(TrainMetrics.of(r.content).train_seconds for r in replies)
            if self.config.evaluate_clients and replies:
                self._evaluate_clients(round_report, replies)
        self.report.rounds.append(round_report)
        self.events.emit(
            "evaluated", strategy=self.report.name, round=server_round, accuracy=result.accuracy,
            ensemble_accuracy=round_report.ensemble_accuracy,
        )
        return MetricRecord({"accuracy": result.accuracy, "loss": result.loss})

    def _evaluate_clients(self, round_report: RoundReport, replies: list[Message]) -> None:
        models = [self._model(reply_arrays(r.content)) for r in replies]
        for reply, model in zip(replies, models):
            own = evaluate(model, self.dataset)
            metrics = TrainMetrics.of(reply.content)
            round_report.clients.append(
                ClientReport(
                    partition=metrics.partition_id,
                    node=reply.metadata.src_node_id,
                    examples=metrics.num_examples,
                    accuracy=own.accuracy,
                    loss=own.loss,
                    train_loss=metrics.train_loss,
                    train_seconds=metrics.train_seconds,
                )
            )
        round_report.clients.sort(key=lambda client: client.partition)
        ensemble = evaluate_ensemble(models, self.dataset)
        round_report.ensemble_accuracy, round_report.ensemble_loss = ensemble.accuracy, ensemble.loss

    def _model(self, arrays: ArrayRecord) -> nn.Module:
        model = self.model_fn()
        model.load_state_dict(arrays.to_torch_state_dict())
        return model.eval()


class AggregationTimer:
    """Records how long a strategy's ``aggregate_train`` takes per round (fusion or averaging)."""

    def __init__(self, strategy: Strategy) -> None:
        self.seconds: dict[int, float] = {}
        self._aggregate_train = strategy.aggregate_train
        strategy.aggregate_train = self._timed  # type: ignore[method-assign]

    def _timed(self, server_round: int, replies: Any) -> Any:
        start = time.perf_counter()
        outcome = self._aggregate_train(server_round, replies)
        self.seconds[server_round] = time.perf_counter() - start
        return outcome


def output_folder(config: RunConfig, run_id: int) -> Path:
    """``output-dir``, or ``~/fedot-runs/run-<id>`` when the run config leaves it empty."""
    folder = Path(config.output_dir).expanduser() if config.output_dir else Path.home() / "fedot-runs" / f"run-{run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
