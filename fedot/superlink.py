"""Start, drive and stop Flower's SuperLink and SuperNodes as local processes.

fedot runs federations through Flower's real engines: a SuperLink it starts
itself (``--simulation`` for the Simulation Engine, plain for the Deployment
Engine), SuperNodes for deployment, and the ``flwr`` CLI to submit runs. Each
SuperLink gets a private ``FLWR_HOME`` so no run depends on what an earlier one
left behind, and everything started here is stopped here — including the Ray
processes Flower's simulation leaves orphaned when a run is cut short.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

ConfigValue = bool | int | float | str

QUIET_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}
"""No outbound calls from Flower: federations must work without internet."""

CONNECTION = "fedot"
"""Name of the SuperLink connection fedot writes into each private FLWR_HOME."""


@dataclass(frozen=True)
class TLSFiles:
    """PEM files of a CA and the SuperLink's certificate signed by it."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class RunStatus:
    """A run's state as the SuperLink reports it (``flwr ls``)."""

    run_id: int
    status: str
    details: str

    @property
    def finished(self) -> bool:
        return self.status.startswith("finished")

    @property
    def succeeded(self) -> bool:
        return self.status == "finished:completed"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def toml_literal(value: ConfigValue) -> str:
    """``value`` as a TOML literal (Flower's run and node configs are TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # JSON string escapes are valid TOML basic-string escapes


def write_toml(path: Path, values: Mapping[str, ConfigValue]) -> Path:
    """Write a flat mapping of scalars as a TOML file; return its path."""
    path.write_text("".join(f"{json.dumps(k)} = {toml_literal(v)}\n" for k, v in values.items()))
    return path


def config_string(values: Mapping[str, ConfigValue]) -> str:
    """``{"a": 1, "b": "x"}`` → ``a=1 b="x"``, the form of ``--node-config``."""
    for key, value in values.items():
        if isinstance(value, str) and ('"' in value or "'" in value):
            raise ValueError(f"config value for {key!r} may not contain quotes: {value!r}")
    return " ".join(f"{k}={toml_literal(v)}" for k, v in values.items())


class LocalSuperLink:
    """A ``flower-superlink`` process on this machine, with its own ``FLWR_HOME``.

    Use as a context manager; leaving it stops the SuperLink and every process
    that carries its ``FLWR_HOME`` (Flower's executors, ``flwr-simulation``,
    Ray's workers and agents).
    """

    def __init__(
        self,
        *,
        simulation: bool,
        host: str = "127.0.0.1",
        port: int | None = None,
        tls: TLSFiles | None = None,
        supernode_auth: bool = False,
        ray_address: str | None = None,
        home: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        if supernode_auth and tls is None:
            raise ValueError("SuperNode authentication needs TLS: pass tls=TLSFiles(...)")
        self.simulation = simulation
        self.host = host
        self.port = port or free_port(host)
        self.tls = tls
        self.supernode_auth = supernode_auth
        self.ray_address = ray_address
        self._owns_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="fedot-flwr-"))
        self.start_timeout = start_timeout
        self.log_path = self.home / "superlink.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for every Flower process belonging to this SuperLink."""
        env = {**os.environ, **QUIET_ENV, "FLWR_HOME": str(self.home)}
        if self.ray_address:
            env["RAY_ADDRESS"] = self.ray_address
        elif self.simulation:
            env["RAY_TMPDIR"] = str(self.home / "ray")  # keeps Ray's files findable for cleanup
        return env

    def start(self) -> LocalSuperLink:
        """Start the SuperLink and wait until its health endpoint answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        command = [
            "flower-superlink",
            "--host", self.host,
            "--port", str(self.port),
            "--disable-runtime-dependency-installation",
        ]
        if self.simulation:
            command.append("--simulation")
        if self.tls:
            command += [
                "--ssl-ca-certfile", str(self.tls.ca),
                "--ssl-certfile", str(self.tls.cert),
                "--ssl-keyfile", str(self.tls.key),
            ]
        else:
            command.append("--insecure")
        if self.supernode_auth:
            command.append("--enable-supernode-auth")
        self._write_cli_config()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"flower-superlink exited with code {self._process.returncode}:\n"
                    f"{self.log_tail()}"
                )
            if self._healthy():
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"flower-superlink did not become healthy in {self.start_timeout:.0f} s")

    def _healthy(self) -> bool:
        scheme = "https" if self.tls else "http"
        context = ssl.create_default_context(cafile=str(self.tls.ca)) if self.tls else None
        try:
            with urllib.request.urlopen(
                f"{scheme}://{self.address}/health", timeout=0.5, context=context
            ) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def _write_cli_config(self) -> None:
        """The ``flwr`` CLI's connection to this SuperLink (``$FLWR_HOME/config.toml``)."""
        security = (
            f"root-certificates = {json.dumps(str(Path(self.tls.ca).resolve()))}"
            if self.tls
            else "insecure = true"
        )
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n'
            f'[superlink.{CONNECTION}]\naddress = "{self.address}"\n{security}\n'
        )

    def flwr(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run a ``flwr`` CLI command against this SuperLink."""
        return subprocess.run(
            ["flwr", *args], env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )

    def submit(
        self,
        app_dir: Path,
        run_config: Mapping[str, ConfigValue],
        federation_config: Mapping[str, ConfigValue] | None = None,
    ) -> int:
        """Submit the Flower App in ``app_dir`` as a new run; return its run id."""
        run_config_file = write_toml(self.home / f"run-config-{time.time_ns()}.toml", run_config)
        args = ["run", str(app_dir), CONNECTION, "--format", "json",
                "--run-config", str(run_config_file)]
        if federation_config:
            args += ["--federation-config", config_string(federation_config)]
        result = self.flwr(*args)
        payload = _json_in(result.stdout)
        if result.returncode != 0 or not payload.get("success"):
            raise RuntimeError(
                f"`flwr run` was refused (exit {result.returncode}):\n"
                f"{result.stdout.strip()}\n{result.stderr.strip()}"
            )
        return int(payload["run-id"])

    def status(self, run_id: int) -> RunStatus:
        """The run's current status as the SuperLink reports it."""
        result = self.flwr("ls", CONNECTION, "--run-id", str(run_id), "--format", "json")
        runs = _json_in(result.stdout).get("runs") or []
        if result.returncode != 0 or not runs:
            raise RuntimeError(f"`flwr ls` failed for run {run_id}:\n{result.stdout}{result.stderr}")
        run = runs[0]
        return RunStatus(run_id, str(run.get("status", "")), str(run.get("status-details", "")))

    def follow(self, run_id: int, log_path: Path) -> subprocess.Popen[bytes]:
        """Stream the run's ServerApp log into ``log_path``; the process ends with the run."""
        with log_path.open("wb") as log:
            return subprocess.Popen(
                ["flwr", "log", str(run_id), CONNECTION, "--stream"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )

    def stop_run(self, run_id: int) -> None:
        """Ask the SuperLink to stop a run (used when the caller gives up on it)."""
        self.flwr("stop", str(run_id), CONNECTION, timeout=30)

    def register_supernode(self, public_key: Path) -> int:
        """Register a SuperNode's public key (SuperNode authentication); return its node id."""
        result = self.flwr("supernode", "register", str(public_key), CONNECTION, "--format", "json")
        payload = _json_in(result.stdout)
        if result.returncode != 0 or not payload.get("success"):
            raise RuntimeError(f"registering {public_key} failed:\n{result.stdout}{result.stderr}")
        return int(payload["node-id"])

    def connected_nodes(self) -> int:
        """How many SuperNodes the SuperLink currently counts as online."""
        result = self.flwr("supernode", "ls", CONNECTION, "--format", "json")
        nodes = _json_in(result.stdout).get("nodes") or []
        return sum(1 for node in nodes if str(node.get("status", "")).startswith("online"))

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> list[str]:
        """Stop the SuperLink and sweep every process of its ``FLWR_HOME``; name what was swept."""
        if self._process is not None:
            stop_process_group(self._process)
            self._process = None
        swept = sweep_processes(self.home)
        if self._owns_home:
            shutil.rmtree(self.home, ignore_errors=True)
        return swept

    def __enter__(self) -> LocalSuperLink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class RemoteSuperLink(LocalSuperLink):
    """The ``flwr`` CLI's connection to a SuperLink that runs elsewhere (docker, another machine).

    It starts no server: ``start()`` writes the connection into a private
    ``FLWR_HOME`` and checks that the SuperLink answers; ``submit``, ``status``,
    ``follow``, ``register_supernode`` and the rest work as on a ``LocalSuperLink``.
    ``stop()`` ends only the CLI processes this object started. Without
    ``root_certificates`` the connection is unencrypted.
    """

    def __init__(
        self,
        address: str,
        *,
        root_certificates: Path | None = None,
        home: Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"SuperLink address must be host:port, got {address!r}")
        super().__init__(simulation=False, host=host.strip("[]"), port=int(port), home=home,
                         start_timeout=start_timeout)
        self._address = address
        self.root_certificates = Path(root_certificates).resolve() if root_certificates else None

    @property
    def address(self) -> str:
        return self._address

    def start(self) -> RemoteSuperLink:
        """Write the CLI connection and wait until the SuperLink's health endpoint answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        security = (
            f"root-certificates = {json.dumps(str(self.root_certificates))}"
            if self.root_certificates else "insecure = true"
        )
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n'
            f'[superlink.{CONNECTION}]\naddress = "{self.address}"\n{security}\n'
        )
        deadline = time.monotonic() + self.start_timeout
        while not self._healthy():
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"no SuperLink answers at {self.address} "
                    f"({'https' if self.root_certificates else 'http'}://{self.address}/health) "
                    f"within {self.start_timeout:.0f} s: check the address, that port "
                    f"{self.port} is open, and that TLS matches (--root-certificates vs --insecure)"
                )
            time.sleep(0.5)
        return self

    def _healthy(self) -> bool:
        scheme = "https" if self.root_certificates else "http"
        context = ssl.create_default_context(cafile=str(self.root_certificates)) if self.root_certificates else None
        try:
            with urllib.request.urlopen(
                f"{scheme}://{self.address}/health", timeout=2.0, context=context
            ) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def stop(self) -> list[str]:
        """Stop the ``flwr`` CLI processes started from this connection's home; leave the SuperLink alone."""
        swept = sweep_processes(self.home)
        if self._owns_home:
            shutil.rmtree(self.home, ignore_errors=True)
        return swept


class LocalSuperNode:
    """A ``flower-supernode`` process (Deployment Engine) connected to a SuperLink."""

    def __init__(
        self,
        superlink: str,
        node_config: Mapping[str, ConfigValue],
        home: Path,
        *,
        root_certificates: Path | None = None,
        auth_private_key: Path | None = None,
        max_retries: int | None = None,
        max_wait_time: float | None = None,
    ) -> None:
        self.superlink = superlink
        self.node_config = dict(node_config)
        self.home = home
        self.root_certificates = root_certificates
        self.auth_private_key = auth_private_key
        self.max_retries = max_retries
        self.max_wait_time = max_wait_time
        self.port = free_port()
        self.log_path = home / f"supernode-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalSuperNode:
        """Start the SuperNode; its ClientApps run in subprocesses of this environment."""
        self.home.mkdir(parents=True, exist_ok=True)
        command = supernode_command(
            self.superlink, self.node_config, port=self.port,
            root_certificates=self.root_certificates, auth_private_key=self.auth_private_key,
            max_retries=self.max_retries, max_wait_time=self.max_wait_time,
        )
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, env={**os.environ, **QUIET_ENV, "FLWR_HOME": str(self.home)},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return None if self._process is None else self._process.poll()

    def wait(self, timeout: float) -> int:
        assert self._process is not None, "start() the SuperNode first"
        return self._process.wait(timeout)

    def kill(self) -> None:
        """Kill the SuperNode and its ClientApp processes at once (fault injection)."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process)
        sweep_processes(self.home)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def supernode_command(
    superlink: str,
    node_config: Mapping[str, ConfigValue],
    *,
    port: int = 9094,
    host: str = "127.0.0.1",
    root_certificates: Path | None = None,
    auth_private_key: Path | None = None,
    max_retries: int | None = None,
    max_wait_time: float | None = None,
) -> list[str]:
    """The ``flower-supernode`` command line of a node whose ClientApps run as subprocesses.

    Without ``root_certificates`` the node talks to the SuperLink unencrypted
    (``--insecure``). ``port`` is the node's own Runtime API port, which its
    ClientApp processes use: give every SuperNode on one host its own.
    """
    command = [
        "flower-supernode",
        "--superlink", superlink,
        "--node-config", config_string(node_config),
        "--isolation", "subprocess",
        "--host", host,
        "--port", str(port),
    ]
    if root_certificates:
        command += ["--root-certificates", str(root_certificates)]
    else:
        command.append("--insecure")
    if auth_private_key:
        command += ["--auth-supernode-private-key", str(auth_private_key)]
    if max_retries is not None:
        command += ["--max-retries", str(max_retries)]
    if max_wait_time is not None:
        command += ["--max-wait-time", str(max_wait_time)]
    return command


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group that ``process`` leads; SIGKILL it after ``grace`` seconds."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def sweep_processes(home: Path, grace: float = 3.0) -> list[str]:
    """Kill every process whose environment names ``FLWR_HOME=home`` or that has files open below it.

    Flower's simulation leaves Ray workers and agents behind when a run or its
    SuperLink is stopped early; they are re-parented to init, ignore SIGTERM
    and some rewrite their environment, but they keep their session files
    (under ``RAY_TMPDIR``, inside ``home``) open. Returns ``"pid command"`` per
    process found; never touches this process or its ancestors.
    """
    marker = f"FLWR_HOME={home}".encode()
    prefix = str(home)
    spared = _ancestors(os.getpid()) | {os.getpid()}
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in spared or not _alive(int(entry)):
            continue
        if _carries_marker(entry, marker) or _uses_path(entry, prefix):
            found[int(entry)] = _command_line(entry)
    for pid in found:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in found):
        time.sleep(0.1)
    for pid in found:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    return [f"{pid} {command}" for pid, command in found.items()]


def _carries_marker(pid: str, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _uses_path(pid: str, prefix: str) -> bool:
    try:
        links = [os.readlink(f"/proc/{pid}/cwd")]
        links += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(link == prefix or link.startswith(prefix + "/") for link in links)


def _command_line(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:80].decode(
            errors="replace"
        ).strip()
    except OSError:
        return "?"


def _ancestors(pid: int) -> set[int]:
    found: set[int] = set()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
            pid = int(stat.rsplit(b") ", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        found.add(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rsplit(b") ", 1)[-1][:1] != b"Z"


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _json_in(text: str) -> dict[str, object]:
    """The JSON object in a CLI's output (``flwr`` may print log lines before it)."""
    start = text.find("{")
    if start < 0:
        return {}
    try:
        value = json.loads(text[start:])
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
