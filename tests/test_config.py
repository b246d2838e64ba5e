"""RunConfig: one validated source of every run setting, in pyproject, TOML files and flags."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from fedot.config import RunConfig
from fedot.recipe import Recipe

ROOT = Path(__file__).resolve().parents[1]


def test_flower_app_config_defaults_are_the_run_config_defaults() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["flwr"]["app"]["config"] == RunConfig().to_flower()


def test_round_trip_through_flower_run_config() -> None:
    config = RunConfig(dataset="mnist", clients=7, alpha=0.1, fusion=Recipe(repair=False), strategy="fedavg")
    assert RunConfig.from_flower(config.to_flower()) == config


SHIPPED_TOMLS = sorted((ROOT / "simulations").glob("*.toml"))
EXPERIMENT_SPECS = [path for path in SHIPPED_TOMLS if "run" in tomllib.loads(path.read_text())]


@pytest.mark.parametrize("path", [p for p in SHIPPED_TOMLS if p not in EXPERIMENT_SPECS], ids=lambda p: p.name)
def test_every_shipped_simulation_config_is_valid(path: Path) -> None:
    RunConfig.from_toml(path)


@pytest.mark.parametrize("path", EXPERIMENT_SPECS, ids=lambda p: p.name)
def test_every_comparison_spec_builds_valid_configs(path: Path) -> None:
    """Grid/rounds specs: the [run] table, every split and every variant make valid RunConfigs."""
    from simulations.common import base_config, load_toml, variants_of

    spec = load_toml(path)
    base = base_config(spec["run"])
    for split in spec.get("splits", {}).values():
        RunConfig.from_flower({**base.to_flower(), **split})
    for variant in variants_of(spec["variants"]):
        strategy = {} if variant.strategy == "ensemble" else {"strategy": variant.strategy}
        RunConfig.from_flower({**base.to_flower(), **variant.overrides, **strategy})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"model": "alexnet"}, "invalid model 'alexnet'; choose from: mlp"),
        ({"strategy": "otfusion,fedsgd"}, "invalid strategy 'fedsgd'; choose from: otfusion, fedavg"),
        ({"strategy": "fedavg,fedavg"}, "strategy lists a strategy twice"),
        ({"clients": 0}, "clients must be ≥ 1"),
        ({"alpha": 0.0}, "alpha"),
        ({"val-fraction": 1.0}, r"val-fraction must be in \[0, 1\)"),
        ({"local-epochs": 1.5}, "local-epochs must be int"),
        ({"ot-align": "activations", "server-samples": 0}, "set server-samples > 0"),
        ({"colour": "red"}, "unknown setting\\(s\\) colour; valid: .*alpha"),
    ],
)
def test_bad_values_are_rejected_with_what_to_do(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunConfig.from_flower(values)


def test_integers_are_accepted_for_float_settings() -> None:
    assert RunConfig.from_flower({"lr": 1, "alpha": 2}).lr == 1.0
