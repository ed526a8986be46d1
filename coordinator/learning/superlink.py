"""The coordinator's hold on its Flower SuperLink: register the SuperNode keys of enrolled sites
and submit a training run of the safecity Flower App (``flwr run``), waiting for its record.

Flower's own CLI does the talking (its control API, TLS to the SuperLink's certificate); its
home folder is the coordinator's, so nothing of a user's ``~/.flwr`` is read or written, and
runtime dependency installation is always off."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tomli_w

from kernel.errors import SafecityError

APP = Path(__file__).parent / "flower_app"
BIN = Path(sys.executable).parent
FEDERATION = "city"


class SuperLink:
    def __init__(self, address: str, ca_certificate: Path, home: Path, timeout: float = 3600):
        # Flower's CLI refuses a relative root-certificates path (and the demo's --out may be one)
        ca_certificate, home = ca_certificate.resolve(), home.resolve()
        self.address, self.ca_certificate, self.home = address, ca_certificate, home
        self.timeout = timeout
        self.env = superlink_environment(home)
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        (home / "config.toml").write_text(tomli_w.dumps({"superlink": {
            "default": FEDERATION,
            FEDERATION: {"address": address, "root-certificates": str(ca_certificate)}}}))

    def require_listening(self, seconds: float = 5.0) -> None:
        """Fail at once, and say so, when nothing answers at the SuperLink's address (Flower's
        CLI would otherwise retry and end with a long gRPC trace)."""
        host, port = self.address.rsplit(":", 1)
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=seconds):
                return
        except (OSError, ValueError) as exc:
            raise SafecityError(f"the Flower SuperLink is unavailable at {self.address} "
                                f"({exc}); start it with `safecity fl superlink`") from None

    def register(self, name: str, public_key: str) -> None:
        """Register a site's SuperNode key (OpenSSH ECDSA); registering it again is a no-op."""
        self.require_listening()
        public_file = self.home / f"{name}.pub"
        public_file.write_text(public_key.strip() + "\n")
        done = subprocess.run([str(BIN / "flwr"), "supernode", "register", str(public_file),
                               FEDERATION, "--name", name], env=self.env, capture_output=True,
                              text=True, timeout=60, check=False)
        said = f"{done.stdout[-500:]} {done.stderr[-500:]}"
        if done.returncode != 0 and "already" not in said.lower():
            raise SafecityError(f"registering {name}'s SuperNode key failed: {said.strip()}")

    def run(self, results: Path, **config: Any) -> dict[str, Any]:
        """Run the app with ``config`` over its defaults; the run's record, or an error with
        the end of what Flower said."""
        self.require_listening()
        overrides = results.with_suffix(".run-config.toml")
        overrides.write_text(tomli_w.dumps({**config, "results": str(results)}))
        try:
            done = subprocess.run([str(BIN / "flwr"), "run", str(APP), FEDERATION, "--stream",
                                   "--run-config", str(overrides)], env=self.env,
                                  capture_output=True, text=True, timeout=self.timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise SafecityError(f"the training run took longer than {self.timeout:g} s") from None
        deadline = time.monotonic() + 60
        while not results.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        if not results.exists():
            raise SafecityError(f"the training run left no record:\n{done.stdout[-2000:]}"
                                f"\n{done.stderr[-1000:]}")
        return dict(json.loads(results.read_text()))


def superlink_command(port: int, certificate: Path, key: Path, ca_certificate: Path,
                      database: Path | None = None, host: str = "127.0.0.1",
                      health: str | None = None) -> list[str]:
    """The SuperLink as the coordinator runs it: TLS, SuperNode authentication (only keys the
    coordinator registered get in), no runtime dependency installation, listening on
    ``host``; its state in ``database`` (kept across restarts) or in memory; a gRPC health
    service at ``health`` (host:port, no TLS) when given."""
    command = [str(BIN / "flower-superlink"), "--ssl-certfile", str(certificate),
               "--ssl-keyfile", str(key), "--ssl-ca-certfile", str(ca_certificate),
               "--enable-supernode-auth", "--disable-runtime-dependency-installation",
               "--host", host, "--port", str(port)]
    if health:
        command += ["--health-server-address", health]
    return command + (["--database", str(database)] if database else [])


def superlink_environment(home: Path) -> dict[str, str]:
    # the SuperLink starts flower-superexec and the ServerApp by name
    return {**os.environ, "FLWR_HOME": str(home),
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def wait_for_port(address: str, seconds: float = 60, log: Path | None = None) -> None:
    """Until something listens at ``address`` (host:port), or SafecityError."""
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((host.strip("[]"), int(port))) == 0:
                return
        time.sleep(0.2)
    said = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise SafecityError(f"the SuperLink did not start at {address}:\n{said}")


def register_enrolled(link: SuperLink, keys: list[tuple[str, str]]) -> None:
    """Register every enrolled node's SuperNode key (what the coordinator does whenever its
    SuperLink starts, and before every run)."""
    for node_id, key in keys:
        link.register(node_id, key)
