"""A ``flower-supernode`` process (Deployment Engine) and the command line of one."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from fedot.flower.processes import free_port, kill_process_group, start_logged, stop_process_group, sweep_processes
from fedot.flower.toml import ConfigValue, config_string
from fedot.flower.tools import flower_env, flower_tool


class LocalSuperNode:
    """A ``flower-supernode`` process on this machine connected to the SuperLink at ``superlink``."""

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
        self._process = start_logged(command, flower_env({"FLWR_HOME": str(self.home)}), self.log_path)
        return self

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return None if self._process is None else self._process.poll()

    def wait(self, timeout: float) -> int:
        assert self._process is not None, "start() the SuperNode first"
        return self._process.wait(timeout)

    def kill(self) -> None:
        """Kill the SuperNode and its ClientApp processes at once (fault injection)."""
        if self._process is not None:
            kill_process_group(self._process)

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
        flower_tool("flower-supernode"),
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
