"""Clients on GPU workers: the resources Flower's Simulation Engine is given, and what clients report.

A CPU-only machine can't run a client on a GPU; these tests check what reaches Flower (parsed by
Flower's own code) and the refusals and reports that do not need one.
"""

import pytest
import torch
from flwr.cli.config_utils import parse_config_args
from flwr.supercore.utils import simulation_config_from_json

from clients.client_app import release_gpu_memory
from fedot.config import RunConfig
from fedot.messages import TrainMetrics
from fedot.simulate import check_gpus, federation_config
from fedot.flower.toml import config_string


@pytest.mark.parametrize(("cpus", "gpus"), [(1, 0.0), (2, 0.25), (4, 1.0)])
def test_flower_reads_the_clients_resources_as_configured(cpus: int, gpus: float) -> None:
    config = RunConfig(clients=8, cpus_per_client=cpus, gpus_per_client=gpus)
    parsed = parse_config_args([config_string(federation_config(config))])  # what `flwr run` does with it
    simulation = simulation_config_from_json({key.replace("-", "_"): value for key, value in parsed.items()})
    assert simulation.num_supernodes == 8
    assert simulation.client_resources_num_cpus == cpus
    assert simulation.client_resources_num_gpus == pytest.approx(gpus)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_gpus_per_client_without_a_gpu_is_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError, match=r"gpus-per-client=0.25 but this machine has no CUDA GPU"):
        check_gpus(RunConfig(gpus_per_client=0.25))
    check_gpus(RunConfig(gpus_per_client=0.25, ray_address="127.0.0.1:6379"))  # the cluster may have GPUs
    check_gpus(RunConfig())


def test_a_cpu_client_reports_no_gpu_memory() -> None:
    assert release_gpu_memory(torch.device("cpu")) == (0, 0)
    metrics = TrainMetrics(10, 0, 0.5, 0.9, 1.0)
    assert metrics.record()["gpu-peak-bytes"] == 0 and metrics.record()["gpu-held-bytes"] == 0
