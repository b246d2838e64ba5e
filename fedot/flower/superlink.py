"""A ``flower-superlink`` process on this machine, with its own ``FLWR_HOME``, its SuperExec and a ``flwr`` connection.

fedot runs federations through Flower's real engines: a SuperLink it starts
itself (``--simulation`` for the Simulation Engine, plain for the Deployment
Engine) and the ``flwr`` CLI to submit runs. The SuperLink runs with
``--isolation process`` and fedot starts its SuperExec (which runs the
ServerApps) beside it, both holding a fresh secret: Flower ignores the SuperExec
secret when the SuperLink starts its own executor, and without one anyone who
reaches the Runtime API could pose as the executor and take the run. Everything
started here is stopped here — including the Ray processes Flower's simulation
leaves orphaned when a run is cut short.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fedot.flower.connection import Connection
from fedot.flower.lifetime import given_or_temporary
from fedot.flower.processes import free_port, start_logged, stop_process_group, sweep_processes
from fedot.flower.tools import flower_env, flower_tool


@dataclass(frozen=True)
class TLSFiles:
    """PEM files of a CA and the SuperLink's certificate signed by it."""

    ca: Path
    cert: Path
    key: Path


class LocalSuperLink:
    """A ``flower-superlink`` process on this machine, with its own ``FLWR_HOME``.

    ``connection`` is the ``flwr`` CLI's connection to it (in the same home).
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
        self.home, self._temporary = given_or_temporary(home, "fedot-flwr-")
        self.start_timeout = start_timeout
        self.log_path = self.home / "superlink.log"
        self.secret_path = self.home / "superexec.secret"
        self.connection = Connection(self.address, root_certificates=tls.ca if tls else None, home=self.home)
        self._process: subprocess.Popen[bytes] | None = None
        self._executor: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for every Flower process belonging to this SuperLink."""
        extra = {"FLWR_HOME": str(self.home)}
        if self.ray_address:
            extra["RAY_ADDRESS"] = self.ray_address
        elif self.simulation:
            extra["RAY_TMPDIR"] = str(self.home / "ray")  # keeps Ray's files findable for cleanup
        return flower_env(extra)

    def command(self) -> list[str]:
        """The ``flower-superlink`` command line."""
        command = [
            flower_tool("flower-superlink"),
            "--host", self.host,
            "--port", str(self.port),
            "--disable-runtime-dependency-installation",
            "--isolation", "process",
            "--superexec-auth-secret-file", str(self.secret_path),
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
        return command

    def executor_command(self, superlink_pid: int) -> list[str]:
        """The ``flower-superexec`` command line: this SuperLink's ServerApps, ending with it."""
        command = [
            flower_tool("flower-superexec"),
            "--runtime-api-address", self.address,
            "--superexec-auth-secret-file", str(self.secret_path),
            "--parent-pid", str(superlink_pid),
        ]
        return command + (["--root-certificates", str(self.tls.ca)] if self.tls else ["--insecure"])

    def start(self) -> LocalSuperLink:
        """Start the SuperLink, wait until its health endpoint answers, start its SuperExec; stop all on failure."""
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            _write_secret(self.secret_path)
            self._process = start_logged(self.command(), self.env, self.log_path)
            try:
                self.connection.open(self.start_timeout, check=self._check_running)
            except ConnectionError:
                raise TimeoutError(
                    f"flower-superlink did not become healthy in {self.start_timeout:.0f} s:\n{self.log_tail()}"
                ) from None
            self._executor = start_logged(
                self.executor_command(self._process.pid), self.env, self.home / "superexec.log"
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _check_running(self) -> None:
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(f"flower-superlink exited with code {self._process.returncode}:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> list[str]:
        """Stop the SuperExec and the SuperLink, sweep every process of its ``FLWR_HOME``; name what was swept."""
        for process in (self._executor, self._process):
            if process is not None:
                stop_process_group(process)
        self._executor = self._process = None
        return self._temporary.remove() if self._temporary else sweep_processes(self.home)

    def __enter__(self) -> LocalSuperLink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _write_secret(path: Path) -> None:
    """32 random bytes, readable by this user only: the SuperLink's and its SuperExec's shared secret."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(secrets.token_bytes(32))
