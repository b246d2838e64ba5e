"""The ``flwr`` CLI's connection to a SuperLink: submit runs, follow them, ask for their status and nodes.

Each connection lives in a Flower home of its own (``FLWR_HOME``) holding one
``config.toml`` with one SuperLink connection, so no command depends on what an
earlier run or the user's own ``~/.flwr`` left behind. The SuperLink may run
here (``fedot.flower.superlink``) or anywhere else (docker, another machine).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from fedot.flower.lifetime import given_or_temporary
from fedot.flower.processes import sweep_processes
from fedot.flower.toml import ConfigValue, config_string, write_toml
from fedot.flower.tools import flower_env, flower_tool

CONNECTION = "fedot"
"""Name of the SuperLink connection fedot writes into each private FLWR_HOME."""


class RunState(StrEnum):
    """Where a run is in its life (Flower's ``Status``)."""

    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    FINISHED = "finished"


class RunOutcome(StrEnum):
    """How a finished run ended (Flower's ``SubStatus``)."""

    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class RunStatus:
    """A run's state as the SuperLink reports it (``flwr ls``), parsed once."""

    run_id: int
    state: RunState
    outcome: RunOutcome | None = None
    details: str = ""

    @classmethod
    def parse(cls, run_id: int, status: str, details: str = "") -> RunStatus:
        """From ``flwr ls``'s ``"finished:completed"`` form; a status Flower does not define is an error."""
        state, _, outcome = status.partition(":")
        try:
            return cls(run_id, RunState(state), RunOutcome(outcome) if outcome else None, details)
        except ValueError:
            raise ValueError(f"the SuperLink reported run {run_id} as {status!r}, a status Flower 1.42 does not define")

    @property
    def finished(self) -> bool:
        return self.state is RunState.FINISHED

    @property
    def succeeded(self) -> bool:
        return self.outcome is RunOutcome.COMPLETED

    def noted(self, note: str) -> RunStatus:
        """The same status with ``note`` put in front of its details."""
        return replace(self, details=f"{note}; {self.details}" if self.details else note)

    def __str__(self) -> str:
        status = self.state.value + (f":{self.outcome.value}" if self.outcome else "")
        return f"{status} ({self.details})" if self.details else status


class Connection:
    """The ``flwr`` CLI's connection to the SuperLink at ``address`` (``host:port``).

    ``open()`` writes the connection into ``home`` (a private temporary folder
    unless given) and waits until the SuperLink's health endpoint answers;
    ``close()`` ends the CLI processes started from that home (never the
    SuperLink) and removes the home if it made it. Without ``root_certificates``
    the connection is unencrypted.
    """

    def __init__(self, address: str, *, root_certificates: Path | None = None, home: Path | None = None) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"SuperLink address must be host:port, got {address!r}")
        self.address = address
        self.port = int(port)
        self.root_certificates = Path(root_certificates).resolve() if root_certificates else None
        self.home, self._temporary = given_or_temporary(home, "fedot-flwr-")

    @property
    def env(self) -> dict[str, str]:
        """Environment of the ``flwr`` commands run on this connection."""
        return flower_env({"FLWR_HOME": str(self.home)})

    def open(self, timeout: float = 30.0, *, check: Callable[[], None] | None = None) -> Connection:
        """Write the CLI connection and wait until the SuperLink answers; ``check`` runs between tries.

        Raises ``ConnectionError`` naming the address after ``timeout`` seconds;
        ``check`` may raise to give up sooner (a local SuperLink that exited).
        """
        self.home.mkdir(parents=True, exist_ok=True)
        security = (
            f"root-certificates = {json.dumps(str(self.root_certificates))}"
            if self.root_certificates else "insecure = true"
        )
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n'
            f'[superlink.{CONNECTION}]\naddress = "{self.address}"\n{security}\n'
        )
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if check is not None:
                check()
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"no SuperLink answers at {self.address} ({self._health_url}) within {timeout:.0f} s: "
                    f"check the address, that port {self.port} is open, and that TLS matches "
                    f"(--root-certificates vs --insecure)"
                )
            time.sleep(0.2)
        return self

    @property
    def _health_url(self) -> str:
        return f"{'https' if self.root_certificates else 'http'}://{self.address}/health"

    def healthy(self) -> bool:
        """Whether the SuperLink's health endpoint answers 200 now."""
        context = ssl.create_default_context(cafile=str(self.root_certificates)) if self.root_certificates else None
        try:
            with urllib.request.urlopen(self._health_url, timeout=2.0, context=context) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def flwr(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run a ``flwr`` CLI command on this connection."""
        return subprocess.run(
            [flower_tool("flwr"), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )

    def submit(
        self,
        app_dir: Path,
        run_config: Mapping[str, ConfigValue],
        federation_config: Mapping[str, ConfigValue] | None = None,
    ) -> int:
        """Submit the Flower App in ``app_dir`` as a new run; return its run id."""
        run_config_file = write_toml(self.home / f"run-config-{time.time_ns()}.toml", run_config)
        args = ["run", str(app_dir), CONNECTION, "--format", "json", "--run-config", str(run_config_file)]
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
        try:
            return RunStatus.parse(run_id, str(run.get("status", "")), str(run.get("status-details", "")))
        except ValueError as error:
            raise RuntimeError(str(error)) from None

    def follow(self, run_id: int, log_path: Path) -> subprocess.Popen[bytes]:
        """Stream the run's ServerApp log into ``log_path``; the process ends with the run."""
        with log_path.open("wb") as log:
            return subprocess.Popen(
                [flower_tool("flwr"), "log", str(run_id), CONNECTION, "--stream"],
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

    def nodes(self) -> dict[int, str]:
        """Every SuperNode the SuperLink knows: node id → status (``registered``, ``online``, ``offline``, …)."""
        result = self.flwr("supernode", "ls", CONNECTION, "--format", "json")
        nodes = _json_in(result.stdout).get("nodes") or []
        return {int(node["node-id"]): str(node.get("status", "")) for node in nodes}

    def connected_nodes(self) -> int:
        """How many SuperNodes the SuperLink currently counts as online."""
        return sum(1 for status in self.nodes().values() if status.startswith("online"))

    def close(self) -> list[str]:
        """End the ``flwr`` processes started from this connection's home (removing it if it made it); name them."""
        return self._temporary.remove() if self._temporary else sweep_processes(self.home)

    def __enter__(self) -> Connection:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
