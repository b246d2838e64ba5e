"""What the one-shot grid and the multi-round comparison share: federations built as a real run builds
them, client training cached on disk, and every aggregation variant applied to the same client models.

A *federation* is one ``RunConfig`` (split × init × clients × seed). Its clients are trained exactly as
the ClientApp trains them — ``client_start_model`` and ``client_train_seed`` of ``fedot.federation`` —
and the server's unlabelled images are ``fedot.federation.server_batches``, as the ServerApp's. A
*variant* is a strategy name (``fedavg``, ``otfusion``, ``otfusion+distill``, ``fedavg+distill``, or
``ensemble``) with ``ot-*`` / ``distill-*`` overrides, run by the same ``fedot.aggregation`` table and
``fedot.fusion.aggregate`` as the Flower strategies, so a grid row is what that run config would produce.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fedot.aggregation import aggregation
from fedot.config import RunConfig
from fedot.data import ImageDataset
from fedot.experiments import fuse_on_device_or_cpu
from fedot.federation import (
    client_share,
    client_start_model,
    client_train_seed,
    initial_model,
)
from fedot.fusion.aggregate import aggregate as fusion_aggregate
from fedot.train import evaluate, evaluate_ensemble, train

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "simulations" / ".cache"
"""Trained client models, one file per federation and round (git-ignored)."""

ENSEMBLE = "ensemble"
NOT_TRAINING = ("strategy", "output-dir", "evaluate-clients", "ray-address", "round-timeout", "node-timeout",
                "min-replies", "cpus-per-client", "gpus-per-client")  # fmt: skip
"""Run settings that do not change what a client trains (besides every ot-* and distill-* key)."""


@dataclass(frozen=True)
class Variant:
    """One way to aggregate: a strategy name (or ``ensemble``) and its ot-*/distill-* overrides."""

    name: str
    strategy: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def config(self, base: RunConfig) -> RunConfig:
        return base.with_settings(self.overrides)


def load_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def base_config(run: Mapping[str, Any]) -> RunConfig:
    """The ``[run]`` table as a RunConfig; a relative ``data-dir`` is relative to the repository."""
    values = dict(run)
    if values.get("data-dir") and not Path(values["data-dir"]).is_absolute():
        values["data-dir"] = str((REPO / values["data-dir"]).resolve())
    return RunConfig.from_flower(values)


def variants_of(table: Mapping[str, Mapping[str, Any]]) -> list[Variant]:
    """``[variants.<name>]`` tables: ``strategy = ...`` plus ot-*/distill-* keys, in file order."""
    result = []
    for name, spec in table.items():
        spec = dict(spec)
        strategy = spec.pop("strategy")
        bad = [key for key in spec if not key.startswith(("ot-", "distill-"))]
        if bad:
            raise ValueError(f"variant {name!r}: only ot-* and distill-* keys may vary, got {bad}")
        result.append(Variant(name, strategy, spec))
    return result


def cache_key(config: RunConfig, server_round: int, global_state_tag: str = "") -> str:
    """A file name for the clients of ``config`` in ``server_round`` (only training settings count)."""
    values = {
        key: value for key, value in config.to_flower().items()
        if key not in NOT_TRAINING and not key.startswith(("ot-", "distill-"))
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps([values, server_round, global_state_tag], sort_keys=True).encode()).hexdigest()
    return f"{config.dataset}-{config.model}-{config.partition}-{config.init}-c{config.clients}-s{config.seed}-r{server_round}-{digest[:12]}"


@dataclass
class Clients:
    """One round's usable trained clients: models, example counts, training seconds, and the
    indices of clients dropped because their model holds NaN/Inf (the server refuses such replies,
    ``fedot.replies``, before any strategy sees them)."""

    models: list[nn.Module]
    examples: list[int]
    seconds: float
    dropped: list[int] = field(default_factory=list)


def train_clients(
    config: RunConfig,
    dataset: ImageDataset,
    server_round: int = 1,
    global_state: Mapping[str, torch.Tensor] | None = None,
    cache: Path | None = CACHE,
    cache_tag: str = "",
    max_steps: int | None = None,
) -> Clients:
    """Train every client of ``config`` for one round as the ClientApp does (cached when ``cache``).

    ``cache_tag`` must identify ``global_state`` when rounds > 1 share a cache. ``max_steps``
    cuts every client's training to that many batches: for smoke tests only, never for results.
    """
    tag = f"{cache_tag}-steps{max_steps}" if max_steps else cache_tag
    path = cache / f"{cache_key(config, server_round, tag)}.pt" if cache is not None else None
    if path is not None and path.exists():
        saved = torch.load(path)
        states, examples, seconds = saved["states"], saved["examples"], saved["seconds"]
    else:
        states, examples, seconds = [], [], 0.0
        for client in range(config.clients):
            share = client_share(config, client, config.clients)
            model = client_start_model(config, dataset, client, server_round, global_state)
            start = time.perf_counter()
            recipe = config.train_config(seed=client_train_seed(config, server_round, client))
            if max_steps:
                recipe = dataclasses.replace(recipe, steps=max_steps)
            result = train(model, dataset, recipe, indices=share.train)
            seconds += time.perf_counter() - start
            states.append({name: tensor.cpu() for name, tensor in model.state_dict().items()})
            examples.append(result.num_examples)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"states": states, "examples": examples, "seconds": seconds}, path)
    finite = [all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point()) for state in states]
    models = [_model(config, dataset, state) for state, ok in zip(states, finite) if ok]
    kept = [n for n, ok in zip(examples, finite) if ok]
    return Clients(models, kept, seconds, [index for index, ok in enumerate(finite) if not ok])


def _model(config: RunConfig, dataset: ImageDataset, state: Mapping[str, torch.Tensor]) -> nn.Module:
    model = initial_model(config, dataset)
    model.load_state_dict(state)
    return model.to(dataset.device).eval()


def aggregate(
    variant: Variant,
    config: RunConfig,
    dataset: ImageDataset,
    clients: Clients,
    inputs: list[torch.Tensor] | None,
) -> tuple[nn.Module | None, dict[str, Any]]:
    """The global model ``variant`` makes of ``clients`` (None for the ensemble) and what it chose.

    The variant's strategy is looked up in ``fedot.aggregation`` with the variant's run config,
    and run by ``fedot.fusion.aggregate`` — what the Flower strategies run on the same replies.
    """
    if variant.strategy == ENSEMBLE:
        return None, {}
    settings = variant.config(config)
    plan = aggregation(variant.strategy, settings.fusion, settings.distillation)
    weights = [float(n) for n in clients.examples]
    chosen: dict[str, Any] = {}

    def run(models: list[nn.Module], batches: list[torch.Tensor] | None) -> nn.Module:
        result = fusion_aggregate(plan, models, weights, batches)
        if result.selection is not None:
            chosen["chosen"] = result.selection.chosen
        return result.model

    fused, info = fuse_on_device_or_cpu(run, clients.models, inputs if plan.reads_inputs() else None)
    return fused, {**info, **chosen}


def accuracy_of(model: nn.Module | None, dataset: ImageDataset, clients: Clients, indices: Any = None) -> float:
    """Test accuracy of ``model``, or of the clients' prediction ensemble when ``model`` is None
    (on the test rows ``indices``; all of them by default)."""
    if model is None:
        return evaluate_ensemble(clients.models, dataset, indices=indices).accuracy
    return evaluate(model, dataset, indices=indices).accuracy


def describe_run(config: RunConfig) -> str:
    keys = ("dataset", "model", "local-epochs", "batch-size", "optimizer", "lr", "momentum", "weight-decay", "server-samples")
    values = config.to_flower()
    return ", ".join(f"{key} {values[key]}" for key in keys)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    tensor = torch.tensor(list(values), dtype=torch.float64)
    return float(tensor.mean()), float(tensor.std(correction=1)) if len(values) > 1 else 0.0


def mean_std_text(values: Sequence[float]) -> str:
    """``mean ± std`` for a table cell; one value is marked as a single seed, none as a dash."""
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.1f} (1 seed)"
    mean, std = mean_std(values)
    return f"{mean:.1f} ± {std:.1f}"
