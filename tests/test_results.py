"""results.json / rounds.csv / plots: written once, readable back, summarised in one table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from fedot.results import ClientReport, RoundReport, StrategyReport, format_table, write_results


def report(name: str, accuracy: float) -> StrategyReport:
    clients = [ClientReport(p, 100 + p, 10 * (p + 1), 0.5 + 0.1 * p, 1.0, 0.3, 0.2) for p in range(3)]
    rounds = [RoundReport(0, 0.1, 2.3), RoundReport(1, accuracy, 0.9, 0.8, 0.6, clients, 0.05, 0.6)]
    return StrategyReport(name, rounds, wall_seconds=3.0)


def test_results_round_trip_and_summaries(tmp_path: Path) -> None:
    reports = [report("otfusion", 0.75), report("fedavg", 0.6)]
    path = write_results(tmp_path, {"clients": 3}, reports, [[10, 0], [5, 15], [0, 30]])
    document = json.loads(path.read_text())
    ot = document["strategies"]["otfusion"]
    assert ot["final_accuracy"] == 0.75 and ot["ensemble_accuracy"] == 0.8
    assert ot["best_client_accuracy"] == 0.7
    assert abs(ot["mean_client_accuracy"] - 0.6) < 1e-12
    assert ot["timings"] == {"client_training_seconds": 0.6, "aggregation_seconds": 0.05, "wall_seconds": 3.0}
    assert StrategyReport.from_dict(ot) == reports[0]
    rows = list(csv.DictReader((tmp_path / "rounds.csv").open()))
    assert [(r["strategy"], r["round"]) for r in rows] == [("otfusion", "0"), ("otfusion", "1"), ("fedavg", "0"), ("fedavg", "1")]
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"


def test_table_names_every_model_a_user_compares() -> None:
    table = format_table([report("otfusion", 0.75), report("fedavg", 0.6)])
    for line in ("OT fusion", "75.00 %", "FedAvg", "60.00 %", "prediction ensemble", "80.00 %", "best client", "mean client"):
        assert line in table
    failed = StrategyReport("fedavg", error="round 1: only 1 of 4 clients sent a usable model")
    assert "failed: round 1" in format_table([failed])
