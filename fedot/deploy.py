"""``python -m fedot.deploy``: fedot on Flower's Deployment Engine — real SuperLink, real SuperNodes.

The ServerApp and ClientApp are the ones ``python -m fedot.simulate`` runs; only
the engine differs. Subcommands:

- ``local``: start a SuperLink and one SuperNode per client on this machine (TLS
  by default), run the federation the RunConfig flags describe, print the
  results and stop everything — or, with ``--serve``, keep the topology up for
  ``flwr run . fedot`` by hand.
- ``run``: submit the federation to a SuperLink that runs elsewhere (docker
  compose, another machine), stream its log and wait for the outcome.
- ``node``: start one SuperNode for a partition (what the docker image runs);
  ``--partition-id auto`` takes it from the compose replica number.
- ``serverapp``: start the SuperExec that runs ServerApps for a SuperLink
  started with ``--isolation process`` (the ``serverapp`` compose service).
- ``register``: register SuperNode public keys (SuperNode authentication).

Unencrypted connections happen only with ``--insecure``, and print a warning.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from fedot.superlink import (
    CONNECTION,
    QUIET_ENV,
    LocalSuperLink,
    LocalSuperNode,
    RemoteSuperLink,
    RunStatus,
    TLSFiles,
    supernode_command,
)

if TYPE_CHECKING:
    from fedot.config import RunConfig

APP_DIR = Path(__file__).resolve().parents[1]
"""fedot's Flower App: the source tree whose pyproject.toml declares the ServerApp and ClientApp."""

CERT_SCRIPT = APP_DIR / "deploy" / "make-certs.sh"
"""Makes a CA, the SuperLink's certificate and SuperNode keys (openssl, ssh-keygen)."""

INSECURE_WARNING = (
    "WARNING: --insecure: traffic between SuperNodes, the SuperLink and the flwr CLI is "
    "unencrypted, and anyone who reaches the SuperLink's port can join the federation and read "
    "the models. Use it only for tests on a trusted network; see deploy/make-certs.sh for TLS."
)


# ---------------------------------------------------------------------------------------------
# Certificates and keys


def make_certificates(folder: Path, names: Sequence[str] = (), supernode_keys: int = 0) -> TLSFiles:
    """Run ``deploy/make-certs.sh``: a CA and a SuperLink certificate valid for ``names`` (+ localhost).

    With ``supernode_keys`` > 0 it also writes ``supernode-<i>`` / ``supernode-<i>.pub``
    key pairs for SuperNode authentication. Returns the CA and the SuperLink's files.
    """
    command = ["bash", str(CERT_SCRIPT), "-o", str(folder), "-f", "-k", str(supernode_keys)]
    for name in names:
        command += ["-n", name]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{CERT_SCRIPT.name} failed (exit {result.returncode}):\n{result.stderr}")
    superlink = folder / "superlink"
    return TLSFiles(ca=folder / "public" / "ca.crt", cert=superlink / "server.pem", key=superlink / "server.key")


# ---------------------------------------------------------------------------------------------
# A whole federation on this machine


class LocalDeployment:
    """A SuperLink and ``supernodes`` SuperNodes as processes on 127.0.0.1, one partition each.

    ``tls`` makes a throw-away CA and certificate in the SuperLink's private home;
    ``supernode_auth`` (needs TLS) gives every SuperNode its own key, registered
    with the SuperLink before the node starts, so ``node_ids[i]`` is partition
    ``i``'s node id from the start. Leaving the context stops every process it
    started (SuperLink, SuperNodes, their SuperExecs, ServerApp and ClientApp
    processes) and removes its files (certificates and keys included).
    """

    def __init__(
        self,
        supernodes: int,
        *,
        tls: bool = True,
        supernode_auth: bool = False,
        port: int | None = None,
        max_retries: int | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        if supernodes < 1:
            raise ValueError(f"a deployment needs at least one SuperNode, got {supernodes}")
        if supernode_auth and not tls:
            raise ValueError("SuperNode authentication needs TLS: drop --insecure or --auth")
        self.num_supernodes = supernodes
        self.tls = tls
        self.supernode_auth = supernode_auth
        self.max_retries = max_retries
        self.home = Path(tempfile.mkdtemp(prefix="fedot-deploy-"))
        self.tls_files: TLSFiles | None = None
        if tls:
            self.tls_files = make_certificates(self.home / "certs", supernode_keys=supernodes if supernode_auth else 0)
        self.superlink = LocalSuperLink(
            simulation=False, port=port, tls=self.tls_files, supernode_auth=supernode_auth,
            home=self.home, start_timeout=start_timeout,
        )
        self.supernodes: list[LocalSuperNode] = []
        self.node_ids: dict[int, int] = {}

    @property
    def address(self) -> str:
        return self.superlink.address

    def start(self) -> LocalDeployment:
        """Start the SuperLink, register node keys (with auth), start the SuperNodes."""
        try:
            self.superlink.start()
            for partition in range(self.num_supernodes):
                key = None
                if self.supernode_auth:
                    key = self.home / "certs" / "supernodes" / f"supernode-{partition}"
                    self.node_ids[partition] = self.superlink.register_supernode(key.with_suffix(".pub"))
                node = LocalSuperNode(
                    self.address,
                    {"partition-id": partition, "num-partitions": self.num_supernodes},
                    self.home / f"node-{partition}",
                    root_certificates=self.tls_files.ca if self.tls_files else None,
                    auth_private_key=key,
                    max_retries=self.max_retries,
                )
                self.supernodes.append(node.start())
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_nodes(self, timeout: float = 60.0) -> None:
        """Return once the SuperLink counts every SuperNode online; raise with their logs otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.superlink.connected_nodes() >= self.num_supernodes:
                return
            dead = [n for n in self.supernodes if n.poll() is not None]
            if dead:
                raise RuntimeError(f"a SuperNode exited (code {dead[0].poll()}):\n{dead[0].log_text()[-2000:]}")
            time.sleep(1.0)  # each check runs the flwr CLI (~1 s of CPU)
        logs = "\n".join(node.log_text()[-800:] for node in self.supernodes)
        raise TimeoutError(f"only {self.superlink.connected_nodes()} of {self.num_supernodes} SuperNodes "
                           f"connected within {timeout:.0f} s:\n{logs}")

    def stop(self) -> list[str]:
        """Stop the SuperNodes, then the SuperLink; sweep every process left under the home; name them."""
        with ThreadPoolExecutor(max(1, len(self.supernodes))) as pool:  # each may take seconds to exit
            list(pool.map(LocalSuperNode.stop, self.supernodes))
        swept = self.superlink.stop()
        shutil.rmtree(self.home, ignore_errors=True)
        return swept

    def __enter__(self) -> LocalDeployment:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# Submitting a run and waiting for it


def run_and_wait(
    superlink: LocalSuperLink,
    config: RunConfig,
    *,
    app_dir: Path = APP_DIR,
    log_path: Path,
    timeout: float | None = None,
    echo: bool = False,
    progress_events: Path | None = None,
    while_running: Callable[[], None] | None = None,
) -> RunStatus:
    """Submit fedot's app with ``config`` to ``superlink``; wait until the run ends or ``timeout`` passes.

    The ServerApp's log streams into ``log_path`` (and to stdout with ``echo``);
    ``progress_events`` (an ``events.jsonl`` this machine can read) shows live
    progress; ``while_running`` is called about every 0.2 s. On timeout the run
    is stopped and its status returned, so the caller always gets a final answer
    unless the SuperLink itself is gone.
    """
    from fedot.progress import ProgressView

    run_id = superlink.submit(app_dir, config.to_flower())
    follower = superlink.follow(run_id, log_path)
    view = ProgressView(progress_events, config.rounds) if progress_events else None
    deadline = None if timeout is None else time.monotonic() + timeout
    shown = 0
    next_check = time.monotonic() + 10.0
    status: RunStatus | None = None
    try:
        while follower.poll() is None:
            if view:
                view.update()
            if echo:
                shown = _echo_new(log_path, shown)
            if while_running:
                while_running()
            if deadline is not None and time.monotonic() > deadline:
                superlink.stop_run(run_id)
                break
            if time.monotonic() > next_check:  # the log stream may outlive a lost connection
                status = superlink.status(run_id)
                if status.finished:
                    break
                next_check = time.monotonic() + 10.0
            time.sleep(0.2)
    except KeyboardInterrupt:
        superlink.stop_run(run_id)
        raise
    finally:
        if view:
            view.close()
        follower.terminate()
        follower.wait(10)
        if echo:
            _echo_new(log_path, shown)
    for _ in range(50):  # the status turns "finished" a moment after the log stream ends
        status = superlink.status(run_id)
        if status.finished:
            break
        time.sleep(0.2)
    assert status is not None
    if deadline is not None and time.monotonic() > deadline and not status.succeeded:
        return RunStatus(run_id, status.status, f"gave up after {timeout:.0f} s; {status.details}".strip())
    return status


def _echo_new(path: Path, offset: int) -> int:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            chunk = file.read()
    except FileNotFoundError:
        return offset
    if chunk:
        sys.stdout.write(chunk.decode(errors="replace"))
        sys.stdout.flush()
    return offset + len(chunk)


# ---------------------------------------------------------------------------------------------
# The SuperNode of a container (or of any machine)


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
    command = supernode_command(
        args.superlink, {"partition-id": partition, "num-partitions": args.num_partitions},
        port=args.port, root_certificates=args.root_certificates, auth_private_key=key,
        max_retries=args.max_retries, max_wait_time=args.max_wait_time,
    )
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
    """Run ``command``; pass SIGTERM/SIGINT on to it (container stop); return its exit code."""
    child = subprocess.Popen(command, env={**os.environ, **QUIET_ENV})

    def forward(signum: int, _frame: Any) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_serverapp_executor(args: argparse.Namespace) -> int:
    """Replace this process with ``flower-superexec`` serving the SuperLink's Runtime API."""
    command = ["flower-superexec", "--runtime-api-address", args.superlink]
    if args.root_certificates:
        command += ["--root-certificates", str(args.root_certificates)]
    else:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
        command.append("--insecure")
    print(f"fedot: running ServerApps for the SuperLink at {args.superlink}", file=sys.stderr, flush=True)
    os.environ.update(QUIET_ENV)
    os.execvp(command[0], command)
    return 1  # not reached


def register_keys(args: argparse.Namespace) -> int:
    """Register SuperNode public keys with a SuperLink; print ``key → node id``."""
    link = RemoteSuperLink(args.superlink, root_certificates=args.root_certificates)
    try:
        link.start()
        for key in args.keys:
            print(f"{key} → node id {link.register_supernode(key)}")
    except (ConnectionError, RuntimeError, ValueError) as error:
        print(f"fedot: error: {error}", file=sys.stderr)
        return 1
    finally:
        link.stop()
    return 0


# ---------------------------------------------------------------------------------------------
# Federations: local topology or an existing SuperLink


def run_local(args: argparse.Namespace, config: RunConfig) -> int:
    """Start SuperLink + ``clients`` SuperNodes here; run the federation (or serve until Ctrl-C)."""
    from fedot.simulate import describe, finish_results, show_partitions, status_ok

    if args.insecure:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
    started = time.perf_counter()
    output = Path(config.output_dir)
    with LocalDeployment(config.clients, tls=not args.insecure, supernode_auth=args.auth, port=args.port,
                         max_retries=args.max_retries) as deployment:
        print(f"fedot: SuperLink at {deployment.address} ({'TLS' if deployment.tls else 'insecure'}"
              f"{', SuperNode authentication' if args.auth else ''}), {config.clients} SuperNodes", flush=True)
        deployment.wait_for_nodes(args.node_wait)
        if args.serve:
            return _serve(deployment)
        output.mkdir(parents=True, exist_ok=True)
        print(f"fedot: {describe(config)}\nresults → {output}", flush=True)
        show_partitions(config, output)
        status = run_and_wait(deployment.superlink, config, log_path=output / "flower.log", timeout=args.timeout,
                              progress_events=output / "events.jsonl")
    return _report(f"{status.status} {status.details}".strip(), output, time.perf_counter() - started,
                   status_ok, finish_results)


def _serve(deployment: LocalDeployment) -> int:
    home = deployment.superlink.home
    print(
        f"\nThe federation is up. In another shell, from the fedot folder:\n\n"
        f"  FLWR_HOME={home} flwr run . {CONNECTION} --run-config \"strategy='otfusion' "
        f"clients={deployment.num_supernodes} output-dir='{Path.cwd() / 'runs' / 'by-hand'}'\"\n"
        f"  FLWR_HOME={home} flwr log <run-id> {CONNECTION} --stream\n\n"
        f"Ctrl-C stops the SuperLink and the SuperNodes.", flush=True,
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
    if args.insecure:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
    link = RemoteSuperLink(args.superlink, root_certificates=args.root_certificates)
    try:
        link.start()
        where = config.output_dir or "~/fedot-runs/run-<id> (in the compose setup: ./runs on the SuperLink host)"
        print(f"fedot: submitting to {args.superlink}; results → {where} on the ServerApp's machine", flush=True)
        status = run_and_wait(link, config, log_path=link.home / "flower.log", timeout=args.timeout, echo=True)
    except (ConnectionError, RuntimeError, ValueError) as error:
        print(f"fedot: error: {error}", file=sys.stderr)
        return 1
    finally:
        link.stop()
    print(f"\nfedot: run {status.run_id} ended as {status.status} {status.details}".rstrip(), flush=True)
    return 0 if status.succeeded else 1


def _report(status: str, output: Path, wall: float, status_ok: Callable[[str, Path], bool],
            finish_results: Callable[[Path, float], dict[str, Any]]) -> int:
    from fedot.results import StrategyReport, format_table

    if not status_ok(status, output):
        return 1
    results = finish_results(output, wall)
    reports = [StrategyReport.from_dict(entry) for entry in results["strategies"].values()]
    print("\n" + format_table(reports))
    print(f"\nwall time {wall:.1f} s · results in {output}")
    return 0 if not any(report.error for report in reports) else 1


# ---------------------------------------------------------------------------------------------
# Command line

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
    local.add_argument("--port", type=int, default=None, help="SuperLink port (default: a free one)")
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
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only `local` and `run` need the RunConfig flags, whose import (torch) takes seconds.
    parser = build_parser(with_run_config=bool(argv) and argv[0] in FEDERATION_COMMANDS)
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
