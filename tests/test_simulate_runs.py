"""End-to-end federations on Flower's real Simulation Engine (each run takes ~20-30 s)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedot.config import RunConfig
from fedot.simulate import main, run_federation
from tests.support.flower_apps import app_with_client


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The default federation (digits, MLP, 4 clients, Dirichlet 0.5, one-shot), clients from different inits."""
    output = tmp_path_factory.mktemp("default-run")
    assert main(["--init", "different", "--output-dir", str(output)]) == 0
    timings = json.loads((output / "timings.json").read_text())
    return json.loads((output / "results.json").read_text()) | {"output": str(output), "command_timings": timings}


def test_default_run_writes_results_csv_and_plots(default_run: dict) -> None:
    output = Path(default_run["output"])
    for name in ("results.json", "timings.json", "rounds.csv", "accuracy.png", "partitions.png", "flower.log"):
        assert (output / name).stat().st_size > 0, name
    assert RunConfig.from_flower(default_run["config"]).init == "different"
    assert set(default_run["strategies"]) == {"otfusion", "fedavg"}
    for report in default_run["strategies"].values():
        assert report["error"] is None and report["failures"] == []
        assert [r["round"] for r in report["rounds"]] == [0, 1]
        final = report["rounds"][-1]
        assert 0 <= final["accuracy"] <= 1 and final["loss"] > 0
        assert len(final["clients"]) == 4 and final["ensemble_accuracy"] is not None
        assert report["timings"]["client_training_seconds"] > 0
    timings = default_run["command_timings"]
    work = sum(r["timings"]["client_training_seconds"] + r["timings"]["aggregation_seconds"]
               for r in default_run["strategies"].values())
    assert timings["total_wall_seconds"] > max(r["timings"]["wall_seconds"] for r in default_run["strategies"].values())
    assert timings["overhead_ratio"] == pytest.approx(timings["total_wall_seconds"] / work)
    assert "timings" not in default_run  # results.json is the ServerApp's alone
    rows = (output / "rounds.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2  # header + (round 0, round 1) per strategy


def test_strategies_see_identical_partitions_initialisation_and_clients(default_run: dict) -> None:
    ot, avg = (default_run["strategies"][name] for name in ("otfusion", "fedavg"))
    assert ot["rounds"][0]["accuracy"] == avg["rounds"][0]["accuracy"]  # same initial model
    ot_clients, avg_clients = ot["rounds"][1]["clients"], avg["rounds"][1]["clients"]
    assert [(c["partition"], c["examples"], c["accuracy"]) for c in ot_clients] == [
        (c["partition"], c["examples"], c["accuracy"]) for c in avg_clients
    ]
    assert [c["examples"] for c in ot_clients] == [sum(row) for row in default_run["label_histogram"]]


def test_one_shot_ot_fusion_beats_fedavg_with_different_inits(default_run: dict) -> None:
    ot, avg = (default_run["strategies"][name]["final_accuracy"] for name in ("otfusion", "fedavg"))
    assert ot > avg + 0.05, (ot, avg)


def test_failing_clients_do_not_stop_the_round(tmp_path: Path) -> None:
    app = app_with_client(tmp_path / "app", "nan_and_raising")
    output = tmp_path / "out"
    config = RunConfig(clients=4, local_epochs=1, strategy="otfusion", output_dir=str(output))
    status = run_federation(config, output, app_dir=app)
    assert status.succeeded, status
    report = json.loads((output / "results.json").read_text())["strategies"]["otfusion"]
    assert report["error"] is None
    reasons = sorted(f["reason"] for f in report["failures"])
    assert len(reasons) == 2
    assert "injected failure in partition 1" in reasons[0]
    assert "rejected" in reasons[1] and "NaN" in reasons[1]
    final = report["rounds"][-1]
    assert sorted(c["partition"] for c in final["clients"]) == [0, 3]
    assert 0 < final["accuracy"] <= 1


def test_too_few_usable_replies_end_the_strategy_with_a_clear_error(tmp_path: Path) -> None:
    app = app_with_client(tmp_path / "app", "raising")
    output = tmp_path / "out"
    config = RunConfig(clients=2, local_epochs=1, strategy="fedavg", output_dir=str(output))
    assert run_federation(config, output, app_dir=app).succeeded
    report = json.loads((output / "results.json").read_text())["strategies"]["fedavg"]
    assert "only 1 of 2 clients sent a usable model (min-replies=2)" in report["error"]
