"""The fusion options as run settings: RunConfig keys, the strategy's settings, and the grid's replay of a run."""

import dataclasses
import tomllib
from pathlib import Path

import pytest
import torch

from fedot.config import RunConfig
from fedot.federation import initial_model
from simulations.common import (
    Variant,
    accuracy_of,
    aggregate,
    federation_dataset,
    federation_inputs,
    fuse_on_device_or_cpu,
    train_clients,
)
from simulations.oneshot_grid import run_federation
from strategies.otfusion import DistillSettings, FusionSettings, OTFusion, fuse_models
from strategies.server_app import build_strategy, fusion_settings

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
        ({"distill-steps": 0}, r"distill-steps must be ≥ 1"),
        ({"distill-lr": 0.0}, r"distill-lr must be > 0"),
        ({"strategy": "fedprox"}, r"invalid strategy 'fedprox'"),
        ({"ot-guard": True, "server-samples": 0, "ot-align": "weights", "ot-repair": False}, r"need unlabelled server-held images"),
        ({"strategy": "fedavg+distill", "server-samples": 0}, r"need unlabelled server-held images"),
    ],
)
def test_bad_fusion_settings_are_refused_by_name(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunConfig.from_flower(values)


def test_every_ot_key_reaches_the_strategy() -> None:
    config = RunConfig(ot_align="select", ot_solver="sinkhorn", ot_reg=0.02, ot_metric="correlation", ot_anchor="select",
                       ot_iterations=2, ot_refine=3, ot_repair=False, ot_output_weights="predicted", ot_guard=True)  # fmt: skip
    inputs = [torch.zeros(2, 1, 8, 8)]
    settings = fusion_settings(config, inputs)
    assert settings == FusionSettings("select", "sinkhorn", 0.02, "correlation", "select", 2, 3, False, "predicted", True, inputs)
    assert {f.name for f in dataclasses.fields(FusionSettings)} - {"inputs"} == {
        name.removeprefix("ot_") for name in vars(config) if name.startswith("ot_")
    }


def test_distill_strategies_are_otfusion_with_a_distillation_step() -> None:
    config = RunConfig(strategy="otfusion+distill,fedavg+distill", distill_steps=7, distill_lr=0.01, distill_target="ensemble")
    inputs = [torch.zeros(2, 1, 8, 8)]
    model_fn = lambda: initial_model(config, federation_dataset(config))  # noqa: E731
    fused = build_strategy("otfusion+distill", config, model_fn, inputs)
    averaged = build_strategy("fedavg+distill", config, model_fn, inputs)
    assert isinstance(fused, OTFusion) and isinstance(averaged, OTFusion)
    assert fused.distillation == averaged.distillation == DistillSettings(steps=7, lr=0.01, target="ensemble")
    assert averaged.fusion.align == "none" and fused.fusion == fusion_settings(config, inputs)
    assert build_strategy("otfusion", config, model_fn, inputs).distillation is None


def test_fusion_settings_refuse_options_that_need_inputs_without_them() -> None:
    for options in ({"guard": True}, {"anchor": "select"}, {"output_weights": "select"}, {"align": "select"}, {"repair": True}):
        with pytest.raises(ValueError, match=r"need server-held inputs"):
            FusionSettings(**options)


def test_fuse_models_reports_the_choice_and_distils_only_when_asked() -> None:
    dataset = federation_dataset(TINY)
    clients = train_clients(TINY, dataset, cache=None)
    inputs = federation_inputs(TINY, dataset)
    settings = FusionSettings(align="select", anchor="select", output_weights="select", repair=True, guard=True, inputs=inputs)
    report: dict = {}
    fused = fuse_models(clients.models, clients.examples, settings, None, report)
    assert report["chosen"] in report["scores"]
    distilled = fuse_models(clients.models, clients.examples, settings, DistillSettings(steps=3, lr=1e-3))
    x = inputs[0]
    assert not torch.allclose(fused(x), distilled(x))


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
    dataset = federation_dataset(config)
    clients = train_clients(config, dataset, cache=tmp_path)
    model, info = aggregate(variants[1], config, dataset, clients, federation_inputs(config, dataset))
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
