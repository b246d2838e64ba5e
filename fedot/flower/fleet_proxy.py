"""The reverse proxy in front of a SuperLink that lets only SuperNodes in: the Fleet API, nothing else.

Flower 1.42 serves three APIs on the SuperLink's one HTTP port: the Fleet API
(``/v1/fleet/…``, SuperNodes), the Control API (``/v1/control/…``: ``flwr run``,
``flwr supernode register``, ``flwr stop``) and the Runtime API (``/v1/runtime/…``:
the SuperExec that runs ServerApps). Open-source Flower authenticates neither of
the last two (account authentication is an enterprise plugin; the SuperExec
secret guards only task acquisition), so whoever reaches the port could run code
on the server or register a SuperNode of their own. Flower has no option to bind
the APIs apart (``--control-api-address`` is deprecated and the HTTP Control API
is always on), so the SuperLink listens only on its own host or private network
and nginx, on the public port, forwards exactly the Fleet API's calls (POST
``/v1/fleet/<call>``) and the health check (GET ``/health``); anything else is
refused with 403. With TLS nginx terminates it with the SuperLink's own
certificate and key and talks TLS to the SuperLink, verifying it with the CA, so
SuperNodes see the same certificate either way; SuperNode authentication headers
pass through untouched.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from fedot.flower.processes import start_logged, stop_process_group
from fedot.flower.superlink import TLSFiles

REFUSAL = (
    "fedot: this port serves only the Fleet API (SuperNodes). Submit runs and register SuperNodes on "
    "the SuperLink's own host (or through an SSH tunnel to it)."
)


class ProxyNotInstalled(RuntimeError):
    """nginx, the Fleet proxy, is missing."""


def nginx_executable() -> str:
    """The ``nginx`` binary (Debian: ``apt-get install nginx``; it lives in ``/usr/sbin``)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise ProxyNotInstalled(
            "nginx is not installed; it keeps the SuperLink's Control and Runtime APIs off the network "
            "(Debian/Ubuntu: `sudo apt-get install nginx`; with the service disabled: "
            "`sudo systemctl disable --now nginx`)"
        )
    return found


def nginx_config(
    listen: str, superlink: str, workdir: Path, tls: TLSFiles | None = None, tls_name: str | None = None
) -> str:
    """An nginx configuration forwarding only the Fleet API from ``listen`` to the SuperLink at ``superlink``.

    ``listen`` and ``superlink`` are ``host:port``; ``workdir`` holds nginx's pid
    and temporary files (it runs unprivileged). With ``tls`` nginx serves the
    SuperLink's certificate and verifies the SuperLink against ``tls.ca`` under
    ``tls_name`` (default: the SuperLink's host), a DNS name its certificate
    must hold (nginx does not match IP addresses in certificates).
    """
    host = tls_name or superlink.rpartition(":")[0].strip("[]")
    scheme, server_tls, upstream_tls = "http", "", ""
    if tls is not None:
        scheme = "https"
        server_tls = (
            f"        ssl_certificate {tls.cert};\n"
            f"        ssl_certificate_key {tls.key};\n"
            "        ssl_protocols TLSv1.2 TLSv1.3;\n"
        )
        upstream_tls = (
            f"            proxy_ssl_trusted_certificate {tls.ca};\n"
            "            proxy_ssl_verify on;\n"
            f"            proxy_ssl_name {host};\n"
            "            proxy_ssl_server_name on;\n"
        )
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "".join(f"    {kind}_temp_path {workdir / kind};\n" for kind in kinds)
    return (
        "daemon off;\n"
        "worker_processes 1;\n"
        f"pid {workdir / 'nginx.pid'};\n"
        "error_log stderr notice;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        f"{temp}"
        "    access_log /dev/stderr;\n"
        "    server_tokens off;\n"
        "    server {\n"
        f"        listen {listen}{' ssl' if tls else ''};\n"
        f"{server_tls}"
        "        client_max_body_size 0;\n"  # model uploads: no cap beyond the SuperLink's own
        "        location ~ ^/v1/fleet/[a-z-]+$ {\n"
        "            limit_except POST { deny all; }\n"
        f"            proxy_pass {scheme}://{superlink};\n"
        f"{upstream_tls}"
        "            proxy_http_version 1.1;\n"
        "            proxy_request_buffering off;\n"
        "            proxy_buffering off;\n"
        "            proxy_read_timeout 600s;\n"
        "            proxy_send_timeout 600s;\n"
        "        }\n"
        "        location = /health {\n"
        "            limit_except GET { deny all; }\n"
        f"            proxy_pass {scheme}://{superlink};\n"
        f"{upstream_tls}"
        "        }\n"
        "        location / {\n"
        f"            return 403 \"{REFUSAL}\\n\";\n"
        "        }\n"
        "    }\n"
        "}\n"
    )


def write_config(
    folder: Path, listen: str, superlink: str, tls: TLSFiles | None = None, tls_name: str | None = None
) -> Path:
    """Write ``nginx.conf`` (and nginx's work folder) into ``folder``; return the config's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "nginx.conf"
    path.write_text(nginx_config(listen, superlink, folder, tls, tls_name))
    return path


def nginx_command(config: Path) -> list[str]:
    """Run nginx in the foreground on ``config``, its own log to stderr from the first line."""
    return [nginx_executable(), "-e", "stderr", "-p", str(config.parent), "-c", str(config)]


class FleetProxy:
    """nginx on ``listen`` (``host:port``) forwarding only the Fleet API to the SuperLink at ``superlink``.

    The SuperLink's certificate must name ``tls_name`` (``deploy/make-certs.sh``'s always name localhost).
    """

    def __init__(
        self, listen: str, superlink: str, tls: TLSFiles | None, *, home: Path, tls_name: str = "localhost",
    ) -> None:
        self.listen = listen
        self.superlink = superlink
        self.tls = tls
        self.tls_name = tls_name
        self.home = home
        self.log_path = self.home / "fleet-proxy.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> FleetProxy:
        """Check the configuration (``nginx -t``), then start nginx; raise with its own words if it fails."""
        config = write_config(self.home, self.listen, self.superlink, self.tls, self.tls_name)
        checked = subprocess.run([*nginx_command(config), "-t"], capture_output=True, text=True, check=False)
        if checked.returncode != 0:
            raise RuntimeError(f"the Fleet proxy's nginx configuration was refused:\n{checked.stderr}")
        self._process = start_logged(nginx_command(config), {"PATH": "/usr/sbin:/usr/bin:/bin"}, self.log_path)
        return self

    def poll(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process, grace=5.0)
            self._process = None

    def __enter__(self) -> FleetProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
