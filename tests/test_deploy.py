"""fedot on Flower's Deployment Engine: real SuperLink and SuperNode processes on 127.0.0.1.

The end-to-end tests start the topology docker-compose.yml describes as plain
processes (a deployment round takes ~30-60 s here: every message starts a fresh
ClientApp process), check the outcome and that no process they started is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fedot.deploy import make_certificates, replica_number_of, resolve_partition
from fedot.deploy.cli import build_parser, main
from fedot.flower.connection import Connection
from fedot.flower.processes import free_port, sweep_processes
from tests.support.flower_apps import ROOT
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
        (["fleet-proxy", "--superlink", "h:1"], "exactly one of --insecure and the SuperLink's certificate folder"),
        (["fleet-proxy", "--superlink", "h:1", "--certs", "nowhere"], "--certs nowhere lacks ca.crt"),
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
    secrets = (tmp_path / "certs" / "ca.key", tls.key, tmp_path / "certs" / "superexec.secret",
               tmp_path / "certs" / "supernodes" / "supernode-1")
    for key in secrets:
        assert key.stat().st_mode & 0o077 == 0, f"{key} is readable by others"
    assert len((tmp_path / "certs" / "superexec.secret").read_bytes()) == 32
    text = subprocess.run(["openssl", "x509", "-in", str(tls.cert), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    for san in ("DNS:localhost", "IP Address:127.0.0.1", "DNS:superlink", "IP Address:10.1.2.3", "DNS:fl.example.org"):
        assert san in text
    assert (tmp_path / "certs" / "supernodes" / "supernode-0.pub").read_text().startswith("ecdsa-sha2-nistp384 ")
    refused = subprocess.run(["bash", str(ROOT / "deploy" / "make-certs.sh"), "-o", str(tmp_path / "certs")],
                             capture_output=True, text=True, check=False)
    assert refused.returncode == 1 and "pass -f" in refused.stderr
    for key in secrets:  # a careless chmod, then -f: the new keys are private again
        key.chmod(0o644)
    make_certificates(tmp_path / "certs", supernode_keys=2)
    for key in secrets:
        assert key.stat().st_mode & 0o777 == 0o600, f"{key} is {oct(key.stat().st_mode)} after -f"


def test_the_fleet_proxy_command_refuses_all_but_the_fleet_api(tmp_path: Path) -> None:
    """What compose's fleet-proxy container runs: nginx, here in front of a SuperLink that is not even up."""
    listen = f"127.0.0.1:{free_port()}"
    proxy = subprocess.Popen([sys.executable, "-m", "fedot.deploy", "fleet-proxy", "--insecure", "--listen", listen,
                              "--superlink", f"127.0.0.1:{free_port()}"], env={**ENV, "TMPDIR": str(tmp_path)},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            request = urllib.request.Request(f"http://{listen}/v1/control/start-run", data=b"", method="POST")
            try:
                urllib.request.urlopen(request, timeout=5)
            except urllib.error.HTTPError as refused:
                assert refused.code == 403 and b"serves only the Fleet API" in refused.read()
                break
            except OSError:
                assert time.monotonic() < deadline and proxy.poll() is None, proxy.stdout.read().decode()
                time.sleep(0.2)
        fleet = urllib.request.Request(f"http://{listen}/v1/fleet/pull-messages", data=b"", method="POST")
        with pytest.raises(urllib.error.HTTPError, match="502"):  # forwarded, to a SuperLink that is not there
            urllib.request.urlopen(fleet, timeout=5)
    finally:
        os.killpg(proxy.pid, signal.SIGTERM)
        proxy.wait(10)
    assert leftover_processes(tmp_path, wait=5) == []


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
