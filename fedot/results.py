"""What a federated run reports, and the files it writes: results.json, rounds.csv, plots.

Every number a user compares lives here, per strategy and per round: the
global model's test accuracy and loss, each client's own model and the
clients' prediction ensemble on the same test set, and where the time went
(clients' pure training, server-side aggregation, wall clock).
"""

from __future__ import annotations

import csv
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

from fedot.aggregation import label  # noqa: E402

RESULTS_FILE = "results.json"
ROUNDS_FILE = "rounds.csv"
ACCURACY_PLOT = "accuracy.png"
PARTITION_PLOT = "partitions.png"


@dataclass
class ClientReport:
    """One client's model after local training in one round, tested on the central test set."""

    partition: int
    node: int
    examples: int
    accuracy: float
    loss: float
    train_loss: float
    train_seconds: float


@dataclass
class RoundReport:
    """The global model after a round (round 0: the initial model), and that round's clients."""

    round: int
    accuracy: float
    loss: float
    ensemble_accuracy: float | None = None
    ensemble_loss: float | None = None
    clients: list[ClientReport] = field(default_factory=list)
    aggregation_seconds: float = 0.0
    client_train_seconds: float = 0.0


@dataclass
class StrategyReport:
    """One strategy's run: its rounds, failures, timings, and the error that ended it early, if any."""

    name: str
    rounds: list[RoundReport] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    error: str | None = None

    @property
    def final(self) -> RoundReport | None:
        trained = [r for r in self.rounds if r.round > 0]
        return trained[-1] if trained else None

    def summary(self) -> dict[str, Any]:
        """The headline numbers of this strategy (final round)."""
        final = self.final
        clients = final.clients if final else []
        return {
            "final_accuracy": final.accuracy if final else None,
            "final_loss": final.loss if final else None,
            "ensemble_accuracy": final.ensemble_accuracy if final else None,
            "best_client_accuracy": max((c.accuracy for c in clients), default=None),
            "mean_client_accuracy": sum(c.accuracy for c in clients) / len(clients) if clients else None,
            "timings": {
                "client_training_seconds": sum(r.client_train_seconds for r in self.rounds),
                "aggregation_seconds": sum(r.aggregation_seconds for r in self.rounds),
                "wall_seconds": self.wall_seconds,
            },
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> StrategyReport:
        """Rebuild a report from its ``to_dict`` form (e.g. read back from results.json)."""
        rounds = [
            RoundReport(**{**r, "clients": [ClientReport(**c) for c in r["clients"]]}) for r in entry["rounds"]
        ]
        return cls(entry["name"], rounds, entry["failures"], entry["wall_seconds"], entry["error"])


def write_results(
    output: Path,
    config: dict[str, Any],
    reports: list[StrategyReport],
    label_histogram: list[list[int]],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write results.json, rounds.csv and the accuracy plot into ``output``; return the JSON path.

    ``label_histogram[client][class]`` counts each client's training examples per class.
    """
    output.mkdir(parents=True, exist_ok=True)
    document = {
        "config": config,
        "label_histogram": label_histogram,
        "strategies": {report.name: report.to_dict() for report in reports},
        **(extra or {}),
    }
    path = output / RESULTS_FILE
    path.write_text(json.dumps(document, indent=2))
    write_rounds_csv(output / ROUNDS_FILE, reports)
    plot_accuracy(output / ACCURACY_PLOT, reports)
    return path


def write_rounds_csv(path: Path, reports: list[StrategyReport]) -> None:
    """One row per strategy and round."""
    columns = ["strategy", "round", "accuracy", "loss", "ensemble_accuracy", "best_client_accuracy",
               "mean_client_accuracy", "aggregation_seconds", "client_train_seconds"]
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for report in reports:
            for r in report.rounds:
                accuracies = [c.accuracy for c in r.clients]
                writer.writerow([
                    report.name, r.round, r.accuracy, r.loss, _blank(r.ensemble_accuracy),
                    _blank(max(accuracies, default=None)),
                    _blank(sum(accuracies) / len(accuracies) if accuracies else None),
                    r.aggregation_seconds, r.client_train_seconds,
                ])


def plot_accuracy(path: Path, reports: list[StrategyReport]) -> None:
    """Test accuracy of the global model per round, one line per strategy, ensembles dashed."""
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    for report in reports:
        rounds = [r.round for r in report.rounds]
        line, = axes.plot(rounds, [100 * r.accuracy for r in report.rounds], marker="o", label=report.name)
        ensemble = [(r.round, 100 * r.ensemble_accuracy) for r in report.rounds if r.ensemble_accuracy is not None]
        if ensemble:
            axes.plot(*zip(*ensemble), linestyle="--", color=line.get_color(), alpha=0.6,
                      label=f"{report.name}: client ensemble")
    axes.set_xlabel("round (0 = initial model)")
    axes.set_ylabel("test accuracy (%)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def format_table(reports: list[StrategyReport]) -> str:
    """The comparison a user reads first: each strategy's global model, then ensemble and clients."""
    rows: list[tuple[str, str]] = []
    for report in reports:
        summary = report.summary()
        value = "failed: " + report.error if report.error else _percent(summary["final_accuracy"])
        rows.append((label(report.name), value))
    reference = next((r for r in reports if r.final and r.final.clients), None)
    if reference is not None:
        summary = reference.summary()
        note = f" (clients of {reference.name})" if len(reports) > 1 and reference.final and reference.final.round > 1 else ""
        rows.append(("prediction ensemble" + note, _percent(summary["ensemble_accuracy"])))
        rows.append(("best client" + note, _percent(summary["best_client_accuracy"])))
        rows.append(("mean client" + note, _percent(summary["mean_client_accuracy"])))
    width = max(len(name) for name, _ in rows)
    lines = [f"{'model':<{width}}  test accuracy", f"{'-' * width}  -------------"]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:6.2f} %"


def _blank(value: float | None) -> float | str:
    return "" if value is None else value
