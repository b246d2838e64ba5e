"""The ``python -m fedot.deploy`` command line: federations (``local``, ``run``) and container entry points."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedot.deploy.containers import (
    INSECURE_WARNING,
    register_keys,
    run_fleet_proxy,
    run_node,
    run_serverapp_executor,
)
from fedot.deploy.local import LocalDeployment
from fedot.flower.connection import CONNECTION, Connection
from fedot.flower.lifetime import run_stoppably

if TYPE_CHECKING:
    from fedot.config import RunConfig

EXPOSED_WARNING = (
    "WARNING: --no-fleet-proxy: the SuperNodes reach the SuperLink directly, so whoever reaches its port "
    "also reaches its Control API (submit runs: code on this machine; register SuperNodes) and Runtime API. "
    "Use it only on a machine nobody else can reach."
)


def run_local(args: argparse.Namespace, config: RunConfig) -> int:
    """Start SuperLink + ``clients`` SuperNodes here; run the federation (or serve until Ctrl-C)."""
    from fedot.runs import report_results, run_and_wait
    from fedot.simulate import describe, show_partitions

    if args.insecure:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
    if not args.fleet_proxy:
        print(EXPOSED_WARNING, file=sys.stderr, flush=True)
    started = time.perf_counter()
    output = Path(config.output_dir)
    with LocalDeployment(config.clients, tls=not args.insecure, supernode_auth=args.auth, port=args.port,
                         fleet_proxy=args.fleet_proxy, max_retries=args.max_retries) as deployment:
        fleet = f"; SuperNodes at {deployment.fleet_address} (Fleet API only)" if deployment.proxy else ""
        print(f"fedot: SuperLink at {deployment.superlink.address}{fleet} "
              f"({'TLS' if deployment.tls else 'insecure'}{', SuperNode authentication' if args.auth else ''}), "
              f"{config.clients} SuperNodes", flush=True)
        deployment.wait_for_nodes(args.node_wait)
        if args.serve:
            return _serve(deployment)
        output.mkdir(parents=True, exist_ok=True)
        print(f"fedot: {describe(config)}\nresults → {output}", flush=True)
        show_partitions(config)
        status = run_and_wait(deployment.superlink.connection, config, log_path=output / "flower.log",
                              timeout=args.timeout, progress_events=output / "events.jsonl")
    return report_results(status, output, time.perf_counter() - started)


def _serve(deployment: LocalDeployment) -> int:
    home = deployment.superlink.home
    print(
        f"\nThe federation is up. In another shell, from the fedot folder:\n\n"
        f"  FLWR_HOME={home} flwr run . {CONNECTION} --run-config \"strategy='otfusion' "
        f"clients={deployment.num_supernodes} output-dir='{Path.cwd() / 'runs' / 'by-hand'}'\"\n"
        f"  FLWR_HOME={home} flwr log <run-id> {CONNECTION} --stream\n\n"
        f"More SuperNodes connect to {deployment.fleet_address}. "
        f"Ctrl-C (or SIGTERM) stops the SuperLink and the SuperNodes.", flush=True,
    )
    try:
        while all(node.poll() is None for node in deployment.supernodes):
            time.sleep(1.0)
        print("fedot: a SuperNode exited; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def run_remote(args: argparse.Namespace, config: RunConfig) -> int:
    """Submit the federation to the SuperLink at ``--superlink``; stream its log; wait for the outcome."""
    from fedot.runs import run_and_wait

    if args.insecure:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
    link = Connection(args.superlink, root_certificates=args.root_certificates)
    try:
        link.open()
        where = config.output_dir or "~/fedot-runs/run-<id> (in the compose setup: ./runs on the SuperLink host)"
        print(f"fedot: submitting to {args.superlink}; results → {where} on the ServerApp's machine", flush=True)
        status = run_and_wait(link, config, log_path=link.home / "flower.log", timeout=args.timeout, echo=True)
    except (ConnectionError, RuntimeError, ValueError) as error:
        print(f"fedot: error: {error}", file=sys.stderr)
        return 1
    finally:
        link.close()
    print(f"\nfedot: run {status.run_id} ended as {status}", flush=True)
    return 0 if status.succeeded else 1


FEDERATION_COMMANDS = ("local", "run")


def build_parser(with_run_config: bool = True) -> argparse.ArgumentParser:
    """The ``python -m fedot.deploy`` parser; ``local`` and ``run`` take every ``fedot.simulate`` setting.

    ``node`` and ``serverapp`` also read their options from ``FEDOT_*`` environment
    variables (named in each option's help), which is how docker-compose.yml and
    its override files configure them; a flag beats the variable.
    """
    parser = argparse.ArgumentParser(
        prog="python -m fedot.deploy",
        description="Run fedot on Flower's Deployment Engine (SuperLink + SuperNodes).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = []
    if with_run_config:
        from fedot.simulate import build_parser as run_config_parser

        parents = [run_config_parser()]
    kwargs: dict[str, Any] = {"parents": parents, "add_help": not parents}

    local = commands.add_parser(
        "local", help="a SuperLink and one SuperNode per client on this machine; run, report, stop",
        description="Start a SuperLink and --clients SuperNodes on 127.0.0.1 (TLS unless --insecure), run the "
                    "federation, write results like fedot.simulate, stop everything.", **kwargs,
    )
    local.add_argument("--insecure", action="store_true", help="no TLS (prints a warning)")
    local.add_argument("--auth", action="store_true", help="SuperNode authentication (one registered key per node)")
    local.add_argument("--port", type=int, default=None,
                       help="the SuperNodes' port, the Fleet proxy's (default: a free one)")
    local.add_argument("--no-fleet-proxy", dest="fleet_proxy", action="store_false",
                       help="no nginx in front of the SuperLink: SuperNodes connect to it directly, which exposes "
                            "its Control and Runtime APIs on the same port (prints a warning)")
    local.add_argument("--serve", action="store_true", help="keep the topology up for `flwr run` by hand until Ctrl-C")
    local.add_argument("--node-wait", type=float, default=120.0, help="seconds to wait for all SuperNodes to connect")
    local.add_argument("--max-retries", type=int, default=10, help="SuperNode reconnection attempts before it exits")
    local.add_argument("--timeout", type=float, default=None, help="stop the run after this many seconds")

    run = commands.add_parser(
        "run", help="submit the federation to a running SuperLink (docker compose, other machines) and wait",
        description="Submit fedot's app to the SuperLink at --superlink, stream the ServerApp's log, wait. "
                    "--output-dir is a path on the ServerApp's machine (empty: ~/fedot-runs/run-<id>; "
                    "with docker-compose.yml: ./runs/run-<id> on the SuperLink host).", **kwargs,
    )
    _connection(run)
    run.add_argument("--timeout", type=float, default=None, help="stop the run after this many seconds")

    node = commands.add_parser("node", help="start one SuperNode (what the docker image's SuperNodes run)")
    _connection(node)
    node.add_argument("--num-partitions", type=int, default=_env_int("FEDOT_SUPERNODES"),
                      help="number of clients in the federation [FEDOT_SUPERNODES]")
    node.add_argument("--partition-id", default=os.environ.get("FEDOT_PARTITION_ID") or "auto",
                      help="this node's partition, or 'auto': first partition + compose replica number - 1 "
                           "[FEDOT_PARTITION_ID; default auto]")
    node.add_argument("--first-partition", type=int, default=_env_int("FEDOT_FIRST_PARTITION") or 0,
                      help="the partition of replica 1 with 'auto' [FEDOT_FIRST_PARTITION; default 0]")
    node.add_argument("--auth-key", type=Path, default=_env_path("FEDOT_AUTH_KEY"),
                      help="this SuperNode's private key (SuperNode authentication) [FEDOT_AUTH_KEY]")
    node.add_argument("--auth-key-dir", type=Path, default=_env_path("FEDOT_AUTH_KEY_DIR"),
                      help="folder of supernode-<partition> private keys [FEDOT_AUTH_KEY_DIR]")
    node.add_argument("--max-retries", type=int, default=_env_int("FEDOT_MAX_RETRIES"),
                      help="connection attempts before the node gives up [FEDOT_MAX_RETRIES; default: forever]")
    node.add_argument("--max-wait-time", type=float, default=_env_float("FEDOT_MAX_WAIT_TIME"),
                      help="seconds of reconnecting before the node gives up [FEDOT_MAX_WAIT_TIME]")
    node.add_argument("--port", type=int, default=_env_int("FEDOT_NODE_PORT") or 9094,
                      help="this node's own Runtime API port, on 127.0.0.1 [FEDOT_NODE_PORT; default 9094]")

    serverapp = commands.add_parser("serverapp", help="run the SuperLink's ServerApps (flower-superexec)")
    _connection(serverapp)
    serverapp.add_argument("--superexec-secret", type=Path, default=_env_path("FEDOT_SUPEREXEC_SECRET"),
                           help="the secret file the SuperLink was given (--superexec-auth-secret-file): "
                                "without it the SuperLink refuses this executor [FEDOT_SUPEREXEC_SECRET]")

    proxy = commands.add_parser("fleet-proxy", help="nginx in front of a SuperLink, forwarding only the Fleet API")
    proxy.add_argument("--superlink", default=os.environ.get("FEDOT_SUPERLINK") or None,
                       help="the SuperLink's host:port on the private network [FEDOT_SUPERLINK]")
    proxy.add_argument("--listen", default=os.environ.get("FEDOT_FLEET_LISTEN") or "0.0.0.0:9092",
                       help="where SuperNodes connect [FEDOT_FLEET_LISTEN; default 0.0.0.0:9092]")
    proxy.add_argument("--certs", type=Path, default=_env_path("FEDOT_PROXY_CERTS"),
                       help="the SuperLink's certificate folder (superlink/ of deploy/make-certs.sh: ca.crt, "
                            "server.pem, server.key) [FEDOT_PROXY_CERTS]")
    proxy.add_argument("--insecure", action="store_true",
                       default=os.environ.get("FEDOT_INSECURE", "").lower() in ("1", "true", "yes"),
                       help="no TLS, like the SuperLink behind it [FEDOT_INSECURE=1]")

    register = commands.add_parser("register", help="register SuperNode public keys with a SuperLink")
    _connection(register)
    register.add_argument("keys", nargs="+", type=Path, help="public key files (supernode-<i>.pub)")
    return parser


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--superlink", default=os.environ.get("FEDOT_SUPERLINK") or None,
                        help="the SuperLink's host:port [FEDOT_SUPERLINK]")
    parser.add_argument("--root-certificates", type=Path, metavar="CA",
                        default=_env_path("FEDOT_ROOT_CERTIFICATES"),
                        help="the CA certificate that signed the SuperLink's: public/ca.crt of "
                             "deploy/make-certs.sh [FEDOT_ROOT_CERTIFICATES]")
    parser.add_argument("--insecure", action="store_true",
                        default=os.environ.get("FEDOT_INSECURE", "").lower() in ("1", "true", "yes"),
                        help="no TLS: only for tests on a trusted network; prints a warning [FEDOT_INSECURE=1]")


def _check_connection(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A SuperLink address, and exactly one of TLS (a CA file) or an explicit --insecure."""
    if not args.superlink:
        parser.error("the SuperLink's address is missing: --superlink host:port (or FEDOT_SUPERLINK)")
    if args.insecure and args.root_certificates:
        parser.error("--insecure and --root-certificates exclude each other: choose TLS or none")
    if not args.insecure and not args.root_certificates:
        parser.error("TLS needs the CA certificate: --root-certificates public/ca.crt "
                     "(or --insecure, for tests on a trusted network only)")
    if args.root_certificates and not args.root_certificates.is_file():
        parser.error(f"--root-certificates {args.root_certificates} does not exist or is not a file")
    if args.command == "register" and args.insecure:
        parser.error("SuperNode authentication needs TLS: --root-certificates, not --insecure")
    if args.command == "node":
        if args.num_partitions is None:
            parser.error("--num-partitions (or FEDOT_SUPERNODES) is missing: the federation's number of clients")
        if args.auth_key and args.auth_key_dir:
            parser.error("--auth-key and --auth-key-dir exclude each other")
        if args.insecure and (args.auth_key or args.auth_key_dir):
            parser.error("SuperNode authentication needs TLS: --root-certificates, not --insecure")


def _check_proxy(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The SuperLink's address, and exactly one of its certificate folder or an explicit --insecure."""
    if not args.superlink:
        parser.error("the SuperLink's address is missing: --superlink host:port (or FEDOT_SUPERLINK)")
    if args.insecure == (args.certs is not None):
        parser.error("pass exactly one of --insecure and the SuperLink's certificate folder "
                     "(--certs, FEDOT_PROXY_CERTS)")
    if args.certs is not None:
        for name in ("ca.crt", "server.pem", "server.key"):
            if not (args.certs / name).is_file():
                parser.error(f"--certs {args.certs} lacks {name}: use the superlink/ folder of deploy/make-certs.sh")


def _toml_has(path: Path, key: str) -> bool:
    import tomllib

    with path.open("rb") as file:
        return key in tomllib.load(file)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


def _env_float(name: str) -> float | None:
    value = os.environ.get(name, "").strip()
    return float(value) if value else None


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value) if value else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; SIGTERM and SIGHUP stop it as Ctrl-C does (everything it started is stopped)."""
    return run_stoppably(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only `local` and `run` need the RunConfig flags, whose import (torch) takes seconds.
    parser = build_parser(with_run_config=bool(argv) and argv[0] in FEDERATION_COMMANDS)
    args = parser.parse_args(argv)
    if args.command == "fleet-proxy":
        _check_proxy(parser, args)
        return run_fleet_proxy(args)
    if args.command != "local":
        _check_connection(parser, args)
    if args.command == "node":
        return run_node(args)
    if args.command == "serverapp":
        return run_serverapp_executor(args)
    if args.command == "register":
        return register_keys(args)
    return _federation(parser, args)


def _federation(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from fedot.config import RunConfig
    from fedot.simulate import config_from_args

    output_flag = args.output_dir
    config = config_from_args(parser, args)
    if args.command == "local":
        try:
            return run_local(args, config)
        except (RuntimeError, TimeoutError) as error:
            print(f"fedot: error: {error}", file=sys.stderr)
            return 1
    # Remote: the number of clients defaults to the compose setup's FEDOT_SUPERNODES; the output
    # folder is a path on the ServerApp's machine, passed on as written.
    if args.clients is None and _env_int("FEDOT_SUPERNODES") and not (args.config and _toml_has(args.config, "clients")):
        config = config.replace(clients=_env_int("FEDOT_SUPERNODES"))
    if output_flag is None:
        output_flag = RunConfig.from_toml(args.config).output_dir if args.config else ""
    return run_remote(args, dataclasses.replace(config, output_dir=output_flag))
