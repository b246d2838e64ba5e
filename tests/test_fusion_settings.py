"""The fusion options as run settings: RunConfig keys, the strategy's settings, and the grid's replay of a run."""

import dataclasses
import tomllib
from pathlib import Path

import pytest
import torch

from fedot.aggregation import Aggregation, aggregation
from fedot.config import RunConfig
from fedot.experiments import fuse_on_device_or_cpu
from fedot.federation import initial_model, server_batches, server_dataset
from fedot.fusion.aggregate import aggregate as run_aggregation
from fedot.recipe import DistillRecipe, Recipe
from simulations.common import Variant, accuracy_of, aggregate, train_clients
from simulations.oneshot_grid import run_federation
from strategies.feddf import FedDF
from strategies.otfusion import OTFusion
from strategies.server_app import build_strategy

REPO = Path(__file__).resolve().parents[1]
TINY = RunConfig(dataset="digits", clients=2, local_epochs=1, partition="iid", server_samples=100)


def test_pyproject_mirrors_the_run_config_defaults() -> None:
    with (REPO / "pyproject.toml").open("rb") as file:
        values = tomllib.load(file)["tool"]["flwr"]["app"]["config"]
    assert RunConfig.from_flower(values) == RunConfig()
    assert set(values) == set(RunConfig().to_flower())


@pytest.mark.parametrize(
    "values, message",
    [
        ({"ot-metric": "manhattan"}, r"invalid ot-metric 'manhattan'"),
        ({"ot-output-weights": "labels"}, r"invalid ot-output-weights 'labels'"),
        ({"ot-anchor": "median"}, r"invalid ot-anchor 'median'"),
        ({"ot-align": "gradients"}, r"invalid ot-align 'gradients'"),
        ({"distill-target": "teacher"}, r"invalid distill-target 'teacher'"),
        ({"distill-steps": 0}, r"distill-steps must be an integer ≥ 1"),
        ({"distill-lr": 0.0}, r"distill-lr must be a finite number > 0"),
        ({"ot-reg": -1.0}, r"ot-reg must be a finite number > 0"),
        ({"ot-refine": -2}, r"ot-refine must be a non-negative integer"),
        ({"strategy": "fedprox"}, r"invalid strategy 'fedprox'"),
        ({"ot-guard": True, "server-samples": 0, "ot-align": "weights", "ot-repair": False}, r"needs unlabelled server-held images"),
        ({"strategy": "fedavg+distill", "server-samples": 0}, r"needs unlabelled server-held images"),
    ],
)
def test_bad_fusion_settings_are_refused_by_name(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunConfig.from_flower(values)


def test_every_recipe_option_is_an_ot_key_that_reaches_the_strategy() -> None:
    changed = {"ot-align": "select", "ot-solver": "sinkhorn", "ot-reg": 0.02, "ot-metric": "correlation",
               "ot-squared": True, "ot-marginals": "importance", "ot-anchor": "first", "ot-iterations": 2,
               "ot-refine": 3, "ot-repair": False, "ot-repair-method": "rescale", "ot-output-weights": "predicted",
               "ot-guard": False}  # fmt: skip
    config = RunConfig().with_settings(changed)
    assert {f"ot-{f.name.replace('_', '-')}" for f in dataclasses.fields(Recipe)} == set(changed)
    assert all(getattr(config.fusion, key[3:].replace("-", "_")) == value for key, value in changed.items())
    inputs = [torch.zeros(2, 1, 8, 8)]
    strategy = build_strategy(config.aggregations()[0], config, lambda: initial_model(config, server_dataset(config)), inputs)
    assert isinstance(strategy, OTFusion) and strategy.aggregation.fusion == config.fusion


def test_distill_strategies_carry_the_distill_recipe() -> None:
    config = RunConfig(strategy="otfusion+distill,fedavg+distill,otfusion").with_settings(
        {"distill-steps": 7, "distill-lr": 0.01, "distill-target": "ensemble"}
    )
    inputs = [torch.zeros(2, 1, 8, 8)]
    model_fn = lambda: initial_model(config, server_dataset(config))  # noqa: E731
    fused, averaged, plain = (build_strategy(a, config, model_fn, inputs) for a in config.aggregations())
    assert isinstance(fused, OTFusion) and isinstance(averaged, FedDF) and isinstance(plain, OTFusion)
    assert fused.aggregation.distillation == averaged.aggregation.distillation == DistillRecipe(7, 0.01, "ensemble")
    assert averaged.aggregation.fusion is None and fused.aggregation.fusion == config.fusion
    assert plain.aggregation.distillation is None


def test_a_strategy_whose_recipe_reads_inputs_refuses_to_start_without_them() -> None:
    model_fn = lambda: torch.nn.Linear(3, 2)  # noqa: E731
    for options in ({"guard": True}, {"anchor": "select"}, {"output_weights": "select"}, {"align": "select"}, {"repair": True}):
        with pytest.raises(ValueError, match=r"reads server-held inputs"):
            OTFusion(model_fn, Recipe().data_free().replace(**options))
    OTFusion(model_fn, Recipe().data_free())  # data-free: no inputs needed
    with pytest.raises(ValueError, match=r"distils on server-held inputs"):
        FedDF(model_fn, [])


def test_aggregate_reports_the_choice_and_distils_only_when_asked() -> None:
    dataset = server_dataset(TINY)
    clients = train_clients(TINY, dataset, cache=None)
    inputs = server_batches(TINY, dataset)
    recipe = Recipe(refine=0)
    fused = run_aggregation(Aggregation("otfusion", recipe, None), clients.models, clients.examples, inputs)
    assert fused.selection.chosen in fused.selection.scores
    distilled = run_aggregation(aggregation("otfusion+distill", recipe, DistillRecipe(steps=3, lr=1e-3)),
                                clients.models, clients.examples, inputs)  # fmt: skip
    x = inputs[0]
    assert not torch.allclose(fused.model(x), distilled.model(x))


def test_the_grid_replays_a_federation_and_caches_its_clients(tmp_path: Path) -> None:
    variants = [
        Variant("fedavg", "fedavg"),
        Variant("ot", "otfusion", {"ot-align": "weights", "ot-anchor": "largest", "ot-repair": False,
                                   "ot-output-weights": "examples", "ot-guard": False}),
        Variant("ensemble", "ensemble"),
    ]
    job = (TINY.to_flower(), "iid", {"partition": "iid"}, "different", 2, 0, variants, tmp_path, False)
    rows = run_federation(job)
    assert [row["variant"] for row in rows] == ["fedavg", "ot", "ensemble"]
    assert all(0 <= row["accuracy"] <= 1 for row in rows) and len(list(tmp_path.iterdir())) == 1
    again = run_federation(job)  # from the cache: the same clients, so the same numbers
    assert [row["accuracy"] for row in again] == [row["accuracy"] for row in rows]
    config = TINY.replace(init="different")
    dataset = server_dataset(config)
    clients = train_clients(config, dataset, cache=tmp_path)
    model, info = aggregate(variants[1], config, dataset, clients, server_batches(config, dataset))
    assert accuracy_of(model, dataset, clients) == rows[1]["accuracy"] and info == {}


def test_a_fusion_failure_on_the_cpu_is_raised_not_retried() -> None:
    """The CPU retry exists for device bugs on a GPU; on the CPU a failing variant must fail loudly."""
    models = [torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)]

    def failing(models: list, inputs: object) -> torch.nn.Module:
        raise RuntimeError("widths differ")

    with pytest.raises(RuntimeError, match="widths differ"):
        fuse_on_device_or_cpu(failing, models, None)
    fused, info = fuse_on_device_or_cpu(lambda models, inputs: models[0], models, [torch.zeros(1, 3)])
    assert fused is models[0] and info == {}
