"""fedot on Flower's Deployment Engine: real SuperLink and SuperNode processes on 127.0.0.1.

The end-to-end tests start the topology docker-compose.yml describes as plain
processes (a deployment round takes ~30-60 s here: every message starts a fresh
ClientApp process), check the outcome and that no process they started is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from fedot.config import RunConfig
from fedot.deploy import LocalDeployment, make_certificates, replica_number_of, resolve_partition
from fedot.deploy.cli import build_parser, main
from fedot.runs import run_and_wait
from fedot.flower.connection import Connection
from fedot.flower.processes import free_port, sweep_processes
from tests.support.flower_apps import ROOT, app_with_client
from tests.support.processes import leftover_processes

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
"""Subprocesses import fedot from this source tree, as the test process does."""

PATH_WITHOUT_FLOWER = os.pathsep.join(
    folder for folder in os.environ.get("PATH", "").split(os.pathsep) if not (Path(folder) / "flwr").exists()
)
"""``PATH`` with no folder holding Flower's executables: fedot must find them beside ``sys.executable``."""


# ---------------------------------------------------------------------------------------------
# Fast checks


def test_partition_from_flag_or_compose_replica_number() -> None:
    assert resolve_partition("2", 3) == 2
    assert resolve_partition("auto", 3, replica=lambda: 1) == 0
    assert resolve_partition("auto", 5, first=2, replica=lambda: 3) == 4
    assert replica_number_of("fedot-supernode-2.fedot_default") == 2
    assert replica_number_of("fedot_supernode_11") == 11
    assert replica_number_of("a1b2c3d4e5f6") is None
    with pytest.raises(ValueError, match="outside 0..2"):
        resolve_partition("3", 3)
    with pytest.raises(ValueError, match="outside 0..2.*FEDOT_SUPERNODES"):
        resolve_partition("auto", 3, replica=lambda: 4)
    with pytest.raises(ValueError, match="only in a docker compose replica"):
        resolve_partition("auto", 3, replica=lambda: None)


def test_node_options_come_from_flags_or_fedot_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    monkeypatch.setenv("FEDOT_SUPERLINK", "superlink:9092")
    monkeypatch.setenv("FEDOT_SUPERNODES", "5")
    monkeypatch.setenv("FEDOT_ROOT_CERTIFICATES", str(ca))
    monkeypatch.setenv("FEDOT_MAX_RETRIES", "7")
    args = build_parser(with_run_config=False).parse_args(["node"])
    assert (args.superlink, args.num_partitions, args.partition_id, args.max_retries) == ("superlink:9092", 5, "auto", 7)
    assert args.root_certificates == ca and not args.insecure
    args = build_parser(with_run_config=False).parse_args(["node", "--superlink", "h:1", "--partition-id", "1"])
    assert (args.superlink, args.partition_id) == ("h:1", "1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["node", "--superlink", "h:1", "--num-partitions", "3"], "TLS needs the CA certificate"),
        (["node", "--num-partitions", "3", "--insecure"], "address is missing"),
        (["node", "--superlink", "h:1", "--insecure"], "--num-partitions"),
        (["serverapp", "--superlink", "h:1", "--insecure", "--root-certificates", "x"], "exclude each other"),
        (["node", "--superlink", "h:1", "--num-partitions", "3", "--insecure", "--auth-key-dir", "k"], "needs TLS"),
    ],
)
def test_connections_are_tls_unless_insecure_is_asked_for(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith("FEDOT_")]:
        monkeypatch.delenv(name)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_make_certs_writes_one_folder_per_audience(tmp_path: Path) -> None:
    tls = make_certificates(tmp_path / "certs", names=["10.1.2.3", "fl.example.org"], supernode_keys=2)
    assert tls.ca == tmp_path / "certs" / "public" / "ca.crt"
    assert sorted(p.name for p in (tmp_path / "certs" / "superlink").iterdir()) == ["ca.crt", "server.key", "server.pem"]
    assert sorted(p.name for p in (tmp_path / "certs" / "public").iterdir()) == ["ca.crt"]
    for key in (tmp_path / "certs" / "ca.key", tls.key, tmp_path / "certs" / "supernodes" / "supernode-1"):
        assert key.stat().st_mode & 0o077 == 0, f"{key} is readable by others"
    text = subprocess.run(["openssl", "x509", "-in", str(tls.cert), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    for san in ("DNS:localhost", "IP Address:127.0.0.1", "DNS:superlink", "IP Address:10.1.2.3", "DNS:fl.example.org"):
        assert san in text
    assert (tmp_path / "certs" / "supernodes" / "supernode-0.pub").read_text().startswith("ecdsa-sha2-nistp384 ")
    refused = subprocess.run(["bash", str(ROOT / "deploy" / "make-certs.sh"), "-o", str(tmp_path / "certs")],
                             capture_output=True, text=True, check=False)
    assert refused.returncode == 1 and "pass -f" in refused.stderr


def test_connecting_to_no_superlink_names_the_address(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    link = Connection(address, home=tmp_path / "home")
    with pytest.raises(ConnectionError, match=f"no SuperLink answers at {address}"):
        link.open(timeout=1.0)
    link.close()


# ---------------------------------------------------------------------------------------------
# Faults that need no federation


def test_supernode_gives_up_on_an_unreachable_superlink_with_a_clear_message(tmp_path: Path) -> None:
    home = tmp_path / "flwr"
    command = [sys.executable, "-m", "fedot.deploy", "node", "--superlink", f"127.0.0.1:{free_port()}",
               "--partition-id", "0", "--num-partitions", "3", "--insecure", "--max-retries", "2",
               "--port", str(free_port())]
    start = time.monotonic()
    try:
        result = subprocess.run(command, env={**ENV, "FLWR_HOME": str(home)}, capture_output=True, text=True,
                                timeout=90, check=False)
    finally:
        sweep_processes(home)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert time.monotonic() - start < 60
    assert "Giving up reconnection" in output and "3 tries" in output  # Flower's own count: 1 + 2 retries
    assert "could not be reached within 2 retries" in output  # fedot's explanation
    assert leftover_processes(tmp_path, wait=10) == []


# ---------------------------------------------------------------------------------------------
# Federations through the Deployment Engine


def test_local_deployment_runs_one_shot_otfusion_on_three_supernodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m fedot.deploy local`: SuperLink + 3 SuperNodes (one partition each), no TLS."""
    homes = tmp_path / "homes"
    homes.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(homes))  # the deployment's private FLWR_HOME goes here
    monkeypatch.setenv("PATH", PATH_WITHOUT_FLOWER)  # as from an IDE or cron, with no venv activated
    output = tmp_path / "out"
    start = time.monotonic()
    code = main(["local", "--insecure", "--clients", "3", "--strategy", "otfusion", "--output-dir", str(output),
                 "--timeout", "240", "--node-wait", "90"])
    elapsed = time.monotonic() - start
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert "WARNING: --insecure" in captured.err
    assert leftover_processes(tmp_path, wait=10) == []
    assert list(homes.iterdir()) == []  # its private FLWR_HOME, certificates included, is gone
    assert elapsed < 300
    results = json.loads((output / "results.json").read_text())
    report = results["strategies"]["otfusion"]
    assert report["error"] is None and report["failures"] == []
    final = report["rounds"][-1]
    assert final["round"] == 1 and final["accuracy"] > 0.5, final
    assert sorted(client["partition"] for client in final["clients"]) == [0, 1, 2]  # every node reported
    assert len({client["node"] for client in final["clients"]}) == 3
    assert sum(client["examples"] for client in final["clients"]) == sum(map(sum, results["label_histogram"]))
    assert (output / "flower.log").stat().st_size > 0 and (output / "partitions.png").exists()


def test_tls_deployment_survives_a_killed_supernode_and_bad_replies(tmp_path: Path) -> None:
    """TLS and SuperNode authentication on; partition 1 replies wrong shapes, 2 NaNs, 3 is killed mid-round."""
    app = app_with_client(tmp_path / "app", "wrong_shape_and_nan")
    output = tmp_path / "out"
    output.mkdir()
    config = RunConfig(clients=4, strategy="otfusion", min_replies=1, round_timeout=90.0, node_timeout=60.0,
                       output_dir=str(output))
    killed: list[float] = []
    with LocalDeployment(4, tls=True, supernode_auth=True, max_retries=3) as deployment:
        home = deployment.home
        nodes = deployment.node_ids  # registered before the nodes connect: partition -> node id
        with pytest.raises(OSError):  # the SuperLink speaks TLS only
            urllib.request.urlopen(f"http://{deployment.address}/health", timeout=5)
        deployment.wait_for_nodes(90)
        victim = deployment.supernodes[3]

        def kill_when_training_starts() -> None:
            if not killed and "Start `flwr-clientapp`" in victim.log_text():
                victim.kill()
                killed.append(time.monotonic())

        # Submitted as `python -m fedot.deploy run` does: a CLI connection of its own that trusts the CA.
        with Connection(deployment.address, root_certificates=deployment.tls_files.ca,
                        home=tmp_path / "cli") as client:
            status = run_and_wait(client, config, app_dir=app, log_path=output / "flower.log",
                                  timeout=240, while_running=kill_when_training_starts)
    assert leftover_processes(home, wait=10) == [] and leftover_processes(tmp_path / "cli") == []
    assert killed, "partition 3 never started training"
    assert status.succeeded, status
    report = json.loads((output / "results.json").read_text())["strategies"]["otfusion"]
    assert report["error"] is None
    reasons = {failure["node"]: failure["reason"] for failure in report["failures"]}
    assert set(reasons) == {nodes[1], nodes[2], nodes[3]}, reasons
    assert "rejected" in reasons[nodes[1]] and "has shape (401, 64), expected (400, 64)" in reasons[nodes[1]]
    assert "rejected" in reasons[nodes[2]] and "NaN" in reasons[nodes[2]]
    assert "no reply within 90 s" in reasons[nodes[3]] or "heartbeat" in reasons[nodes[3]], reasons[nodes[3]]
    log = (output / "flower.log").read_text()
    assert f"node {nodes[3]} failed" in log  # the ServerApp's log names the lost node
    final = report["rounds"][-1]
    assert [(client["partition"], client["node"]) for client in final["clients"]] == [(0, nodes[0])]
    assert final["accuracy"] > 0.3


# ---------------------------------------------------------------------------------------------
# Simulation on a Ray cluster


@pytest.fixture
def ray_head(tmp_path: Path):
    """A Ray head started with `ray start` (2 CPUs); yields its address; kills exactly its processes."""
    folder = Path(tempfile.mkdtemp(prefix="fr-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    env = {**ENV, "RAY_TMPDIR": str(folder), "FLWR_HOME": str(folder)}  # both mark its processes
    try:
        started = subprocess.run(
            ["ray", "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
             "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(folder)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        yield f"127.0.0.1:{port}", folder
    finally:
        sweep_processes(folder)  # never `ray stop`: it would stop every Ray cluster on the machine
        assert leftover_processes(folder, wait=5) == []
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_simulate_runs_on_a_running_ray_head(ray_head: tuple[str, Path], tmp_path: Path) -> None:
    address, folder = ray_head
    output = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "fedot.simulate", "--ray-address", address, "--clients", "3", "--strategy", "otfusion",
         "--local-epochs", "1", "--output-dir", str(output)],
        env={**ENV, "PATH": PATH_WITHOUT_FLOWER}, capture_output=True, text=True, timeout=240, check=False,
    )  # `some-venv/bin/python -m fedot.simulate` with no venv activated
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((output / "results.json").read_text())["strategies"]["otfusion"]
    assert report["error"] is None and len(report["rounds"][-1]["clients"]) == 3
    drivers = list((folder / "session_latest" / "logs").glob("python-core-driver-*"))
    assert drivers, "the simulation did not attach to the Ray head as a driver"
