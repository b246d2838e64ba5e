"""What a container (or any machine) of a deployment runs: one SuperNode, the ServerApp executor, key registration,
the Fleet proxy.

``docker-compose.yml`` starts these through ``python -m fedot.deploy node|serverapp|register|fleet-proxy``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fedot.flower.connection import Connection
from fedot.flower.fleet_proxy import ProxyNotInstalled, nginx_command, write_config
from fedot.flower.superlink import TLSFiles
from fedot.flower.supernode import supernode_command
from fedot.flower.tools import FlowerNotInstalled, flower_env, flower_tool

INSECURE_WARNING = (
    "WARNING: --insecure: traffic between SuperNodes, the SuperLink and the flwr CLI is "
    "unencrypted, and anyone who reaches the SuperLink's port can join the federation and read "
    "the models. Use it only for tests on a trusted network; see deploy/make-certs.sh for TLS."
)


def replica_number(hostname: str | None = None) -> int | None:
    """This container's compose replica number (1, 2, ...), or None outside compose.

    Compose names container ``k`` of a scaled service ``<project>-<service>-<k>``
    and registers that name in the network's DNS; a reverse lookup of the
    container's own address returns it (``fedot-supernode-2.fedot_default``).
    """
    try:
        address = socket.gethostbyname(hostname or socket.gethostname())
        name = socket.gethostbyaddr(address)[0]
    except OSError:
        return None
    return replica_number_of(name)


def replica_number_of(dns_name: str) -> int | None:
    """``fedot-supernode-2.fedot_default`` → 2; None when the name has no ``-<k>`` suffix."""
    match = re.search(r"[-_](\d+)$", dns_name.split(".")[0])
    return int(match.group(1)) if match else None


def resolve_partition(partition_id: str, num_partitions: int, first: int = 0,
                      replica: Callable[[], int | None] = replica_number) -> int:
    """The partition a SuperNode serves: ``partition_id`` as a number, or ``auto``: ``first`` + replica − 1."""
    if num_partitions < 1:
        raise ValueError(f"--num-partitions must be ≥ 1, got {num_partitions}")
    if partition_id == "auto":
        number = replica()
        if number is None:
            raise ValueError(
                "--partition-id auto works only in a docker compose replica (container name "
                "<project>-supernode-<k>); elsewhere pass --partition-id <i>"
            )
        partition = first + number - 1
        source = f"compose replica {number}" + (f" + first partition {first}" if first else "")
    else:
        try:
            partition = int(partition_id)
        except ValueError:
            raise ValueError(f"--partition-id must be a number or 'auto', got {partition_id!r}") from None
        source = "--partition-id"
    if not 0 <= partition < num_partitions:
        raise ValueError(
            f"partition {partition} (from {source}) is outside 0..{num_partitions - 1}: "
            f"--num-partitions must equal the federation's number of clients (FEDOT_SUPERNODES in compose)"
        )
    return partition


def run_node(args: argparse.Namespace) -> int:
    """Start ``flower-supernode`` for one partition; explain a failed exit; forward stop signals."""
    try:
        partition = resolve_partition(args.partition_id, args.num_partitions, args.first_partition)
    except ValueError as error:
        print(f"fedot: error: {error}", file=sys.stderr)
        return 2
    key = args.auth_key
    if args.auth_key_dir is not None:
        key = args.auth_key_dir / f"supernode-{partition}"
    if key is not None and not key.is_file():
        print(f"fedot: error: the SuperNode key {key} does not exist or is not a file", file=sys.stderr)
        return 2
    if args.insecure:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
    try:
        command = supernode_command(
            args.superlink, {"partition-id": partition, "num-partitions": args.num_partitions},
            port=args.port, root_certificates=args.root_certificates, auth_private_key=key,
            max_retries=args.max_retries, max_wait_time=args.max_wait_time,
        )
    except FlowerNotInstalled as error:
        print(f"fedot: error: {error}", file=sys.stderr)
        return 2
    print(f"fedot: SuperNode for partition {partition} of {args.num_partitions} → SuperLink {args.superlink}",
          file=sys.stderr, flush=True)
    code = _run_forwarding_signals(command)
    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
        limits = []
        if args.max_retries is not None:
            limits.append(f"{args.max_retries} retries")
        if args.max_wait_time is not None:
            limits.append(f"{args.max_wait_time:g} s")
        print(
            f"fedot: the SuperNode for partition {partition} stopped (flower-supernode exit code {code}). "
            f"Usually the SuperLink at {args.superlink} could not be reached"
            + (f" within {' / '.join(limits)}" if limits else "")
            + " (is it running, is the port open, is the address right?) or it refused this node "
            "(TLS: --root-certificates must be the CA that signed the SuperLink's certificate, and the "
            "certificate must name this address; authentication: register the node's public key with "
            "`python -m fedot.deploy register`). The lines above say which.",
            file=sys.stderr, flush=True,
        )
    return code if code >= 0 else 128 - code


def _run_forwarding_signals(command: list[str]) -> int:
    """Run ``command``; pass SIGTERM/SIGINT on to it (container stop; SIGHUP as SIGTERM); return its exit code."""
    child = subprocess.Popen(command, env=flower_env())

    def forward(signum: int, _frame: Any) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM if signum == signal.SIGHUP else signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_serverapp_executor(args: argparse.Namespace) -> int:
    """Replace this process with ``flower-superexec`` serving the SuperLink's Runtime API."""
    try:
        command = [flower_tool("flower-superexec"), "--runtime-api-address", args.superlink]
    except FlowerNotInstalled as error:
        print(f"fedot: error: {error}", file=sys.stderr)
        return 2
    if args.root_certificates:
        command += ["--root-certificates", str(args.root_certificates)]
    else:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
        command.append("--insecure")
    if args.superexec_secret is not None:
        command += ["--superexec-auth-secret-file", str(args.superexec_secret)]
    print(f"fedot: running ServerApps for the SuperLink at {args.superlink}", file=sys.stderr, flush=True)
    os.execve(command[0], command, flower_env())
    return 1  # not reached


def run_fleet_proxy(args: argparse.Namespace) -> int:
    """Replace this process with nginx forwarding only the Fleet API from ``--listen`` to ``--superlink``."""
    tls = None
    if args.certs is not None:
        tls = TLSFiles(ca=args.certs / "ca.crt", cert=args.certs / "server.pem", key=args.certs / "server.key")
    else:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
    try:
        command = nginx_command(write_config(Path(tempfile.mkdtemp(prefix="fedot-proxy-")), args.listen,
                                             args.superlink, tls))
    except ProxyNotInstalled as error:
        print(f"fedot: error: {error}", file=sys.stderr)
        return 2
    print(f"fedot: Fleet API only: {args.listen} → SuperLink {args.superlink}", file=sys.stderr, flush=True)
    os.execv(command[0], command)
    return 1  # not reached


def register_keys(args: argparse.Namespace) -> int:
    """Register SuperNode public keys with a SuperLink; print ``key → node id``."""
    link = Connection(args.superlink, root_certificates=args.root_certificates)
    try:
        link.open()
        for key in args.keys:
            print(f"{key} → node id {link.register_supernode(key)}")
    except (ConnectionError, RuntimeError, ValueError) as error:
        print(f"fedot: error: {error}", file=sys.stderr)
        return 1
    finally:
        link.close()
    return 0
