"""``python -m fedot.simulate``: run a federation on Flower's Simulation Engine and compare strategies.

With no flags it runs the embedded default offline: scikit-learn's digits, the
MLP, 4 clients with Dirichlet(0.5) label skew, one-shot OT fusion vs FedAvg.
Settings come from ``RunConfig`` defaults, then ``--config FILE.toml``, then
flags. The command starts its own SuperLink (``--simulation``, runtime
dependency installation off, private ``FLWR_HOME``), submits fedot's Flower App
(this source tree) with ``flwr run``, shows progress, and stops everything it
started. Results land in the output folder: results.json, rounds.csv,
accuracy.png, partitions.png, flower.log.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from fedot.config import RunConfig
from fedot.data import DatasetUnavailableError
from fedot.data.partition_report import format_label_histogram, label_histogram
from fedot.federation import client_partitions, run_dataset
from fedot.flags import add_flag, given
from fedot.flower.connection import RunStatus
from fedot.flower.lifetime import run_stoppably
from fedot.flower.superlink import LocalSuperLink
from fedot.flower.tools import FlowerNotInstalled
from fedot.runs import APP_DIR, report_results, run_and_wait


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``RunConfig`` setting (``--local-epochs``, ``--ot-refine``), plus ``--config``."""
    parser = argparse.ArgumentParser(
        prog="python -m fedot.simulate",
        description="Simulate a federation with Flower and compare OT fusion with FedAvg.",
    )
    parser.add_argument("--config", type=Path, help="TOML file of settings (as under simulations/); flags override it")
    for setting in RunConfig.settings():
        add_flag(parser, setting.key, setting.default, setting.help, setting.choices)
    return parser


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RunConfig:
    """Defaults ← TOML file ← flags; any invalid value exits with argparse's usage error."""
    values: dict[str, Any] = {}
    if args.config is not None:
        try:
            with args.config.open("rb") as file:
                values.update(tomllib.load(file))
        except (OSError, tomllib.TOMLDecodeError) as error:
            parser.error(f"cannot read --config {args.config}: {error}")
    values.update(given(args, [setting.key for setting in RunConfig.settings()]))
    try:
        config = RunConfig.from_flower(values)
    except ValueError as error:
        parser.error(str(error))
    output = Path(config.output_dir or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    data_dir = str(Path(config.data_dir).expanduser().resolve()) if config.data_dir else ""
    # Flower's processes have other working folders: paths travel absolute.
    return config.replace(output_dir=str(output.expanduser().resolve()), data_dir=data_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the federation the arguments describe; 0 when every strategy finished its rounds.

    SIGTERM and SIGHUP stop it as Ctrl-C does: the run, the SuperLink, Ray and the private FLWR_HOME go.
    """
    return run_stoppably(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    started = time.perf_counter()
    parser = build_parser()
    config = config_from_args(parser, parser.parse_args(argv))
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    print(f"fedot: {describe(config)}\nresults → {output}", flush=True)
    try:
        check_gpus(config)
        show_partitions(config)
    except DatasetUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        parser.error(str(error))
    try:
        status = run_federation(config, output)
    except FlowerNotInstalled as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return report_results(status, output, time.perf_counter() - started)


def describe(config: RunConfig) -> str:
    mode = "one-shot" if config.rounds == 1 else f"{config.rounds} rounds"
    return (
        f"{config.dataset}, {config.model}, {config.clients} clients, {config.partition} partition, "
        f"{mode}, {config.init} init, strategies: {', '.join(config.strategies)}"
    )


def show_partitions(config: RunConfig) -> None:
    """Load the data (fail fast when it is missing) and print how the clients' labels are split."""
    dataset = run_dataset(config)
    histogram = label_histogram(dataset.train_labels, client_partitions(config), dataset.num_classes)
    print(format_label_histogram(histogram), flush=True)


def run_federation(config: RunConfig, output: Path, app_dir: Path = APP_DIR) -> RunStatus:
    """Run the Flower App in ``app_dir`` (fedot's own) on a private simulation SuperLink; return its final status."""
    output.mkdir(parents=True, exist_ok=True)
    with LocalSuperLink(simulation=True, ray_address=config.ray_address or None) as superlink:
        return run_and_wait(
            superlink.connection, config, app_dir=app_dir, log_path=output / "flower.log",
            progress_events=output / "events.jsonl", federation_config=federation_config(config),
        )


def federation_config(config: RunConfig) -> dict[str, int | float]:
    """Flower's simulation settings for the run: one virtual SuperNode per client, and the Ray
    resources each ClientApp gets (``gpus-per-client`` 0.25: four clients share a GPU)."""
    return {
        "num-supernodes": config.clients,
        "client-resources-num-cpus": config.cpus_per_client,
        "client-resources-num-gpus": config.gpus_per_client,
    }


def check_gpus(config: RunConfig) -> None:
    """Refuse ``gpus-per-client`` > 0 on a machine without a CUDA GPU (Ray would never place a client)."""
    if config.gpus_per_client > 0 and not config.ray_address and not torch.cuda.is_available():
        raise ValueError(
            f"gpus-per-client={config.gpus_per_client} but this machine has no CUDA GPU that torch can use, so "
            "Ray could never start a client: set --gpus-per-client 0, or --ray-address of a cluster with GPUs"
        )


if __name__ == "__main__":
    sys.exit(main())
