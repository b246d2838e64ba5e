"""A ``flower-superlink`` process on this machine, with its own ``FLWR_HOME`` and a ``flwr`` connection to it.

fedot runs federations through Flower's real engines: a SuperLink it starts
itself (``--simulation`` for the Simulation Engine, plain for the Deployment
Engine) and the ``flwr`` CLI to submit runs. Everything started here is stopped
here — including the Ray processes Flower's simulation leaves orphaned when a
run is cut short.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fedot.flower.connection import Connection
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
        self._owns_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="fedot-flwr-"))
        self.start_timeout = start_timeout
        self.log_path = self.home / "superlink.log"
        self.connection = Connection(self.address, root_certificates=tls.ca if tls else None, home=self.home)
        self._process: subprocess.Popen[bytes] | None = None

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

    def start(self) -> LocalSuperLink:
        """Start the SuperLink and wait until its health endpoint answers; stop it again on failure."""
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self._process = start_logged(self.command(), self.env, self.log_path)
            try:
                self.connection.open(self.start_timeout, check=self._check_running)
            except ConnectionError:
                raise TimeoutError(
                    f"flower-superlink did not become healthy in {self.start_timeout:.0f} s:\n{self.log_tail()}"
                ) from None
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

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
