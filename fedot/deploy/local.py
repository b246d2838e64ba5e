"""A whole Deployment-Engine federation on this machine: SuperLink, SuperNodes, certificates."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fedot.runs import APP_DIR
from fedot.flower.superlink import LocalSuperLink, TLSFiles
from fedot.flower.supernode import LocalSuperNode

CERT_SCRIPT = APP_DIR / "deploy" / "make-certs.sh"
"""Makes a CA, the SuperLink's certificate and SuperNode keys (openssl, ssh-keygen)."""


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
                    self.node_ids[partition] = self.superlink.connection.register_supernode(key.with_suffix(".pub"))
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
            if self.superlink.connection.connected_nodes() >= self.num_supernodes:
                return
            dead = [n for n in self.supernodes if n.poll() is not None]
            if dead:
                raise RuntimeError(f"a SuperNode exited (code {dead[0].poll()}):\n{dead[0].log_text()[-2000:]}")
            time.sleep(1.0)  # each check runs the flwr CLI (~1 s of CPU)
        logs = "\n".join(node.log_text()[-800:] for node in self.supernodes)
        raise TimeoutError(f"only {self.superlink.connection.connected_nodes()} of {self.num_supernodes} SuperNodes "
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

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
