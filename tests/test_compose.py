"""docker-compose.yml, its override files and the Dockerfile are valid and agree with the 1.42 CLIs.

No docker engine is needed: each file is checked against the Compose
Specification's JSON schema (as shipped by check-jsonschema) after variable
interpolation, every command line is parsed by the installed Flower's and
fedot's own argument parsers, and — where a compose binary is installed —
``docker compose config`` must accept every combination of files.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flwr
import jsonschema
import pytest
import yaml
from flwr.superlink.cli.flower_superlink import _parse_args_run_superlink
from flwr.supernode.cli.flower_supernode import _parse_args_run_supernode

from fedot.deploy.cli import build_parser
from fedot.flower.supernode import supernode_command
from tests.support.flower_apps import ROOT

BASE = ROOT / "docker-compose.yml"
OVERRIDES = {name: ROOT / "deploy" / f"compose.{name}.yml" for name in ("insecure", "auth", "gpu", "remote")}
REMOTE_ENV = {"FEDOT_SUPERLINK": "fl.example.org:9092", "FEDOT_SUPERNODES": "3", "FEDOT_FIRST_PARTITION": "1"}
COMBINATIONS = [(), ("insecure",), ("auth",), ("gpu",), ("remote",), ("auth", "remote"), ("insecure", "remote"),
                ("gpu", "auth")]


# ---------------------------------------------------------------------------------------------
# Compose's variable interpolation and file merging, as far as these files use them

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """``${X}``, ``${X:-default}``, ``${X-default}``, ``${X:?error}``, ``${X?error}`` and ``$$``, recursively."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        current = env.get(name)
        missing = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":?", "?") and missing:
            raise KeyError(f"required variable {name} is missing: {arg}")
        if op in (":-", "-") and missing:
            return interpolate(arg, env)
        return current or ""

    return _VARIABLE.sub(substitute, value)


def load(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    return interpolate(yaml.safe_load(path.read_text()), env)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Compose's override rules for what these files use: mappings merge, sequences are replaced,
    except ``volumes`` (merged by container path) and ``ports``/``depends_on`` (appended)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        elif key == "volumes" and isinstance(merged.get(key), list):
            targets = {_target(v): v for v in merged[key]}
            targets.update({_target(v): v for v in value})
            merged[key] = list(targets.values())
        else:
            merged[key] = value
    return merged


def _target(volume: str) -> str:
    return volume.split(":")[1]


def project(names: tuple[str, ...], env: Mapping[str, str]) -> dict[str, Any]:
    config = load(BASE, env)
    for name in names:
        config = merge(config, load(OVERRIDES[name], env))
    return config


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: "" if value is None else str(value) for key, value in service.get("environment", {}).items()}


def fedot_args(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The options `python -m fedot.deploy <command>` gets in this container: its command plus environment."""
    command = service["command"]
    assert command[:3] == ["python", "-m", "fedot.deploy"], command
    for name, value in environment(service).items():
        monkeypatch.setenv(name, value)
    return build_parser(with_run_config=False).parse_args(command[3:])


def mounted(service: dict[str, Any], path: str) -> str | None:
    """The host source of the volume that holds ``path`` inside the container, if any."""
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source
    return None


# ---------------------------------------------------------------------------------------------
# Schema


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    schema = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(schema.read_text())


@pytest.mark.parametrize("path", [BASE, *OVERRIDES.values()], ids=lambda p: p.name)
def test_compose_files_match_the_compose_specification(path: Path, compose_schema: dict[str, Any]) -> None:
    document = load(path, REMOTE_ENV)
    jsonschema.validate(document, compose_schema, cls=jsonschema.Draft202012Validator)


def test_the_schema_check_catches_a_broken_file(compose_schema: dict[str, Any]) -> None:
    broken = load(BASE, {})
    broken["services"]["supernode"]["deploy"] = {"replica": 3}  # misspelt key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_schema, cls=jsonschema.Draft202012Validator)


def _compose_command() -> list[str] | None:
    """``docker compose`` or a standalone ``docker-compose`` v2, when one is installed (no engine needed)."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0 and "v2" in probe.stdout + probe.stderr:
            return command
    return None


@pytest.mark.parametrize("names", COMBINATIONS, ids=lambda n: "+".join(n) or "base")
def test_docker_compose_config_accepts_every_combination(names: tuple[str, ...], tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose binary here; the schema and CLI checks stand in for it")
    files = [arg for name in names for arg in ("-f", str(OVERRIDES[name]))]
    env = {"PATH": shutil.os.environ.get("PATH", ""), "HOME": str(tmp_path), **REMOTE_ENV}
    if docker_config := shutil.os.environ.get("DOCKER_CONFIG"):
        env["DOCKER_CONFIG"] = docker_config
    result = subprocess.run([*command, "-f", str(BASE), *files, "config", "-q"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------------
# What the containers run


def test_superlink_is_flowers_pinned_image_with_one_tls_port_on_this_host_only() -> None:
    config = project((), {})
    superlink = config["services"]["superlink"]
    assert superlink["image"] == f"flwr/superlink:{flwr.__version__}"
    args = _parse_args_run_superlink().parse_args(superlink["command"])
    assert (args.isolation, args.host, args.port) == ("process", "0.0.0.0", 9092)
    assert args.runtime_dependency_install is False and not args.insecure and not args.simulation
    assert superlink["ports"] == ["127.0.0.1:9093:9092"]  # Control and Runtime APIs: this host (and SSH tunnels)
    for path in (args.ssl_ca_certfile, args.ssl_certfile, args.ssl_keyfile):
        assert mounted(superlink, path) == "./deploy/certs/superlink", path
    assert args.superexec_auth_secret_file == "/run/secrets/superexec" and superlink["secrets"] == ["superexec"]
    assert config["secrets"] == {"superexec": {"file": "./deploy/certs/superexec.secret"}}


@pytest.mark.parametrize("names", COMBINATIONS, ids=lambda names: "+".join(names) or "base")
def test_only_the_fleet_proxy_is_published_beyond_this_host(names: tuple[str, ...]) -> None:
    env = REMOTE_ENV if "remote" in names else {}
    for name, service in project(names, env)["services"].items():
        for port in service.get("ports", []):
            assert name == "fleet-proxy" or port.startswith("127.0.0.1:"), (name, port)


def test_fleet_proxy_forwards_to_the_superlink_with_its_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = project((), {})["services"]["fleet-proxy"]
    args = fedot_args(proxy, monkeypatch)
    assert (args.command, args.superlink, args.listen) == ("fleet-proxy", "superlink:9092", "0.0.0.0:9092")
    assert not args.insecure
    assert proxy["ports"] == ["9092:9092"]
    assert mounted(proxy, str(args.certs / "server.key")) == "./deploy/certs/superlink"
    assert "secrets" not in proxy  # the executor's secret stays with the SuperLink and the executor


def test_supernodes_get_one_partition_each_from_one_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for count in ("3", "5"):
        env = {"FEDOT_SUPERNODES": count} if count != "3" else {}
        supernode = project((), env)["services"]["supernode"]
        assert int(supernode["deploy"]["replicas"]) == int(count)
        args = fedot_args(supernode, monkeypatch)
        assert (args.num_partitions, args.partition_id, args.first_partition) == (int(count), "auto", 0)
    assert (args.superlink, args.insecure) == ("superlink:9092", False)
    assert mounted(supernode, str(args.root_certificates)) == "./deploy/certs/public"
    assert mounted(supernode, "/app/data") == "./data"
    assert "depends_on" not in supernode  # `up supernode` on another machine starts nothing else
    assert supernode["init"] is True  # reaps the ClientApp processes Flower starts per message
    command = supernode_command(args.superlink, {"partition-id": 0, "num-partitions": 3}, port=args.port,
                                root_certificates=args.root_certificates, max_retries=args.max_retries)
    parsed = _parse_args_run_supernode().parse_args(command[1:])
    assert (parsed.superlink, parsed.isolation, parsed.max_retries) == ("superlink:9092", "subprocess", 30)


def test_serverapp_executor_reaches_the_superlink_and_writes_results_to_a_volume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serverapp = project((), {})["services"]["serverapp"]
    args = fedot_args(serverapp, monkeypatch)
    assert (args.command, args.superlink, args.insecure) == ("serverapp", "superlink:9092", False)
    assert mounted(serverapp, str(args.root_certificates)) == "./deploy/certs/public"
    assert mounted(serverapp, "/app/fedot-runs/run-1") == "./runs"  # the ServerApp's default output folder
    assert environment(serverapp)["FEDOT_SUPERNODES"] == "3"
    assert (str(args.superexec_secret), serverapp["secrets"]) == ("/run/secrets/superexec", ["superexec"])


def test_insecure_override_turns_tls_off_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    services = project(("insecure",), {})["services"]
    args = _parse_args_run_superlink().parse_args(services["superlink"]["command"])
    assert args.insecure and args.ssl_certfile is None
    assert args.superexec_auth_secret_file == "/run/secrets/superexec"  # no TLS, but still no fake executors
    proxy = fedot_args(services["fleet-proxy"], monkeypatch)
    assert proxy.insecure and proxy.certs is None
    for name in ("serverapp", "supernode"):
        parsed = fedot_args(services[name], monkeypatch)
        assert parsed.insecure and parsed.root_certificates is None, name


def test_auth_override_needs_registered_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    services = project(("auth",), {})["services"]
    args = _parse_args_run_superlink().parse_args(services["superlink"]["command"])
    assert args.enable_supernode_auth and args.ssl_keyfile == "/app/certs/server.key"
    assert args.superexec_auth_secret_file == "/run/secrets/superexec"
    supernode = services["supernode"]
    parsed = fedot_args(supernode, monkeypatch)
    assert mounted(supernode, str(parsed.auth_key_dir / "supernode-0")) == "./deploy/certs/supernodes"
    assert mounted(supernode, "/app/certs/ca.crt") == "./deploy/certs/public"  # the base mounts stay


def test_gpu_override_reserves_a_gpu_per_supernode_and_builds_cuda_torch() -> None:
    supernode = project(("gpu",), {})["services"]["supernode"]
    (device,) = supernode["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and int(device["count"]) == 1 and device["capabilities"] == ["gpu"]
    assert "/whl/cu" in supernode["build"]["args"]["TORCH_INDEX_URL"]
    assert int(supernode["deploy"]["replicas"]) == 3


def test_remote_override_points_supernodes_at_the_superlinks_address(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KeyError, match="FEDOT_SUPERLINK"):
        project(("remote",), {})
    env = {**REMOTE_ENV, "FEDOT_NODES_HERE": "2"}
    supernode = project(("remote",), env)["services"]["supernode"]
    assert int(supernode["deploy"]["replicas"]) == 2
    args = fedot_args(supernode, monkeypatch)
    assert (args.superlink, args.num_partitions, args.first_partition) == ("fl.example.org:9092", 3, 1)
    assert not args.insecure


def test_dockerfile_builds_fedot_on_cpu_torch_by_default() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:\$\{PYTHON_VERSION\}-slim", text, re.M)
    assert re.search(r"^ARG PYTHON_VERSION=3\.11$", text, re.M)
    default_index = re.search(r"^ARG TORCH_INDEX_URL=(\S+)$", text, re.M).group(1)
    assert default_index.endswith("/whl/cpu")
    assert project((), {})["services"]["supernode"]["build"]["args"]["TORCH_INDEX_URL"] == default_index
    for source in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", text, re.M):
        for item in source.split():
            assert (ROOT / item).exists(), f"Dockerfile copies {item}, which does not exist"
    assert re.search(r"^USER 49999", text, re.M), "the image must not run as root"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "deploy/certs" in ignored, "private keys must never reach an image"


def test_private_keys_are_git_ignored() -> None:
    result = subprocess.run(["git", "check-ignore", "-q", "deploy/certs/ca.key"], cwd=ROOT, check=False)
    assert result.returncode == 0
