"""Who can do what to a deployment (`fedot.deploy local`'s defaults: TLS, a Fleet proxy, the SuperExec secret).

One TLS deployment with SuperNode authentication and 4 SuperNodes, on
127.0.0.1, serves every test here. From outside — the Fleet port, with the
public CA certificate, as anyone on the network would have it — an outsider
tries what open-source Flower lets anyone who reaches the SuperLink's port do:
submit a run (code on the server), register a SuperNode of their own, pose as
the executor that runs ServerApps. Each is refused, and the SuperNodes still
work through the same port. The last test runs a federation on it (bad
replies, a SuperNode killed mid-round).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedot.config import RunConfig
from fedot.deploy import LocalDeployment
from fedot.flower.connection import CONNECTION, Connection
from fedot.flower.processes import start_logged, stop_process_group
from fedot.flower.tools import flower_env, flower_tool
from fedot.runs import APP_DIR, run_and_wait
from tests.support.flower_apps import app_with_client
from tests.support.processes import leftover_processes


@pytest.fixture(scope="module")
def secured() -> Iterator[LocalDeployment]:
    """4 SuperNodes with registered keys, connected through the Fleet proxy."""
    with LocalDeployment(4, tls=True, supernode_auth=True, max_retries=3) as deployment:
        deployment.wait_for_nodes(90)
        yield deployment
        home = deployment.home
    assert leftover_processes(home, wait=10) == []
    assert not home.exists()


def outsider(deployment: LocalDeployment, home: Path) -> Connection:
    """A ``flwr`` connection to the Fleet port holding the public CA certificate, as anyone may have it."""
    assert deployment.tls_files is not None
    return Connection(deployment.fleet_address, root_certificates=deployment.tls_files.ca, home=home)


def status_of(url: str, ca: Path, method: str = "POST") -> int:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None,
                                     headers={"content-type": "application/protobuf"})
    try:
        with urllib.request.urlopen(request, timeout=10, context=ssl.create_default_context(cafile=str(ca))) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_the_fleet_port_forwards_only_the_fleet_api(secured: LocalDeployment) -> None:
    ca = secured.tls_files.ca
    fleet, private = f"https://{secured.fleet_address}", f"https://{secured.superlink.address}"
    assert status_of(f"{fleet}/health", ca, "GET") == 200
    for path in ("/v1/control/list-runs", "/v1/control/register-node", "/v1/runtime/acquire-task",
                 "/v1/fleet/../control/list-runs", "/v1/fleet/%2e%2e/control/list-runs",
                 "/v1/fleet//../control/start-run"):
        assert status_of(fleet + path, ca) == 403, path
    for path in ("/docs", "/openapi.json", "/v1/fleet/pull-messages"):  # Fleet calls are POSTs only
        assert status_of(fleet + path, ca, "GET") == 403, path
    assert status_of(f"{private}/v1/control/list-runs", ca) != 403  # on the SuperLink's host it answers
    with pytest.raises(OSError):  # TLS only
        urllib.request.urlopen(f"http://{secured.fleet_address}/health", timeout=5)


def test_an_outsider_cannot_submit_a_run(secured: LocalDeployment, tmp_path: Path) -> None:
    with outsider(secured, tmp_path / "outsider") as connection:
        with pytest.raises(RuntimeError, match="403 Forbidden"):
            connection.submit(APP_DIR, {"strategy": "fedavg", "clients": 4})
    runs = json.loads(secured.superlink.connection.flwr("ls", CONNECTION, "--format", "json").stdout)
    assert runs["success"] and runs["runs"] == []  # nothing reached the SuperLink


def test_an_outsider_cannot_register_a_supernode(secured: LocalDeployment, tmp_path: Path) -> None:
    key = tmp_path / "rogue"
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-b", "384", "-N", "", "-f", str(key)], check=True)
    with outsider(secured, tmp_path / "outsider") as connection:
        with pytest.raises(RuntimeError, match="403 Forbidden"):
            connection.register_supernode(key.with_suffix(".pub"))
    nodes = secured.superlink.connection.nodes()
    assert set(nodes) == set(secured.node_ids.values()) and set(nodes.values()) == {"online"}


@pytest.mark.parametrize("route", ["fleet port", "SuperLink without the secret"])
def test_a_fake_executor_gets_no_serverapp_to_run(secured: LocalDeployment, tmp_path: Path, route: str) -> None:
    """Flower's own `flower-superexec`, as an attacker would start it, asking for the SuperLink's tasks."""
    address = secured.fleet_address if route == "fleet port" else secured.superlink.address
    fake = start_logged(
        [flower_tool("flower-superexec"), "--runtime-api-address", address,
         "--root-certificates", str(secured.tls_files.ca)],
        flower_env({"FLWR_HOME": str(tmp_path / "fake")}), tmp_path / "fake.log",
    )
    try:
        fake.wait(60)  # it gives up at its first refusal
    finally:
        stop_process_group(fake)
    if route == "fleet port":
        assert '"POST /v1/runtime/acquire-task HTTP/1.1" 403' in secured.proxy.log_text()
    else:
        log = secured.superlink.log_tail(200_000)
        assert "SuperExec authentication failed for /flwr.proto.Runtime/AcquireTask" in log
        assert '"POST /v1/runtime/acquire-task HTTP/1.1" 401' in log


def test_the_federation_survives_a_killed_supernode_and_bad_replies(secured: LocalDeployment, tmp_path: Path) -> None:
    """Partition 1 replies wrong shapes, 2 NaNs, 3 is killed mid-round; the run is submitted on the SuperLink's host."""
    app = app_with_client(tmp_path / "app", "wrong_shape_and_nan")
    output = tmp_path / "out"
    output.mkdir()
    config = RunConfig(clients=4, strategy="otfusion", min_replies=1, round_timeout=90.0, node_timeout=60.0,
                       output_dir=str(output))
    nodes = secured.node_ids  # registered before the nodes connected: partition -> node id
    victim = secured.supernodes[3]
    killed: list[float] = []

    def kill_when_training_starts() -> None:
        if not killed and "Start `flwr-clientapp`" in victim.log_text():
            victim.kill()
            killed.append(time.monotonic())

    # Submitted as `python -m fedot.deploy run` does: a CLI connection of its own that trusts the CA.
    with Connection(secured.superlink.address, root_certificates=secured.tls_files.ca, home=tmp_path / "cli") as client:
        status = run_and_wait(client, config, app_dir=app, log_path=output / "flower.log",
                              timeout=240, while_running=kill_when_training_starts)
    assert leftover_processes(tmp_path / "cli") == []
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
