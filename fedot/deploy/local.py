"""A whole Deployment-Engine federation on this machine: SuperLink, Fleet proxy, SuperNodes, certificates."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fedot.flower.fleet_proxy import FleetProxy
from fedot.flower.lifetime import TemporaryHome
from fedot.flower.processes import free_port
from fedot.flower.superlink import LocalSuperLink, TLSFiles
from fedot.flower.supernode import LocalSuperNode
from fedot.runs import APP_DIR

CERT_SCRIPT = APP_DIR / "deploy" / "make-certs.sh"
"""Makes a CA, the SuperLink's certificate and SuperNode keys (openssl, ssh-keygen)."""


def certificate_files(folder: Path) -> TLSFiles:
    """Where ``deploy/make-certs.sh -o folder`` puts the CA and the SuperLink's certificate and key."""
    superlink = folder / "superlink"
    return TLSFiles(ca=folder / "public" / "ca.crt", cert=superlink / "server.pem", key=superlink / "server.key")


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
    return certificate_files(folder)


class LocalDeployment:
    """A SuperLink, its Fleet proxy and ``supernodes`` SuperNodes as processes on 127.0.0.1, one partition each.

    The SuperLink (Control, Runtime and Fleet APIs; ``superlink.address``) is for
    this host only: ``superlink.connection`` submits runs and registers keys.
    SuperNodes connect to ``fleet_address``, where nginx forwards only the Fleet
    API (``fleet_proxy=False``: straight to the SuperLink, every API exposed).
    ``tls`` makes a throw-away CA and certificate in the deployment's private home;
    ``supernode_auth`` (needs TLS) gives every SuperNode its own key, registered
    before the node starts, so ``node_ids[i]`` is partition ``i``'s node id from
    the start. Leaving the context stops every process it started (SuperLink,
    SuperExec, proxy, SuperNodes, ServerApp and ClientApp processes) and removes
    its files (certificates and keys included) — also if this process dies first.
    """

    def __init__(
        self,
        supernodes: int,
        *,
        tls: bool = True,
        supernode_auth: bool = False,
        fleet_proxy: bool = True,
        port: int | None = None,
        max_retries: int | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        if supernodes < 1:
            raise ValueError(f"a deployment needs at least one SuperNode, got {supernodes}")
        if supernode_auth and not tls:
            raise ValueError("SuperNode authentication needs TLS: drop --insecure or --auth")
        self.num_supernodes = supernodes
        self.supernode_auth = supernode_auth
        self.max_retries = max_retries
        self._temporary = TemporaryHome("fedot-deploy-")
        self.home = self._temporary.path
        self.tls_files = certificate_files(self.home / "certs") if tls else None
        self.superlink = LocalSuperLink(
            simulation=False, port=None if fleet_proxy else port, tls=self.tls_files,
            supernode_auth=supernode_auth, home=self.home, start_timeout=start_timeout,
        )
        self.proxy = None
        if fleet_proxy:
            listen = f"127.0.0.1:{port or free_port()}"
            self.proxy = FleetProxy(listen, self.superlink.address, self.tls_files, home=self.home / "fleet-proxy")
        self.supernodes: list[LocalSuperNode] = []
        self.node_ids: dict[int, int] = {}

    @property
    def tls(self) -> bool:
        return self.tls_files is not None

    @property
    def fleet_address(self) -> str:
        """Where SuperNodes connect: the Fleet proxy, or the SuperLink itself without one."""
        return self.proxy.listen if self.proxy else self.superlink.address

    def start(self) -> LocalDeployment:
        """Make certificates, start the proxy and the SuperLink, register node keys (with auth), start the nodes."""
        try:
            if self.tls_files:
                make_certificates(self.home / "certs", supernode_keys=self.num_supernodes if self.supernode_auth else 0)
            if self.proxy:
                self.proxy.start()  # first: it fails at once where nginx is missing
            self.superlink.start()
            for partition in range(self.num_supernodes):
                key = None
                if self.supernode_auth:
                    key = self.home / "certs" / "supernodes" / f"supernode-{partition}"
                    self.node_ids[partition] = self.superlink.connection.register_supernode(key.with_suffix(".pub"))
                node = LocalSuperNode(
                    self.fleet_address,
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
            if self.superlink.connection.connected_nodes() >= self.num_supernodes:
                return
            dead = [n for n in self.supernodes if n.poll() is not None]
            if dead:
                raise RuntimeError(f"a SuperNode exited (code {dead[0].poll()}):\n{dead[0].log_text()[-2000:]}")
            if self.proxy and self.proxy.poll() is not None:
                raise RuntimeError(f"the Fleet proxy (nginx) exited:\n{self.proxy.log_text()[-2000:]}")
            time.sleep(1.0)  # each check runs the flwr CLI (~1 s of CPU)
        logs = "\n".join(node.log_text()[-800:] for node in self.supernodes)
        raise TimeoutError(f"only {self.superlink.connection.connected_nodes()} of {self.num_supernodes} SuperNodes "
                           f"connected within {timeout:.0f} s:\n{logs}")

    def stop(self) -> list[str]:
        """Stop the SuperNodes, the proxy, then the SuperLink; sweep every process left under the home; name them."""
        with ThreadPoolExecutor(max(1, len(self.supernodes))) as pool:  # each may take seconds to exit
            list(pool.map(LocalSuperNode.stop, self.supernodes))
        if self.proxy:
            self.proxy.stop()
        swept = self.superlink.stop()
        return swept + self._temporary.remove()

    def __enter__(self) -> LocalDeployment:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
