"""A federation on one machine: Flower's SuperLink and one SuperNode per site as separate
processes on loopback, and `flwr run` submitting the safecity Flower App to it. The demo, the
tests and the benchmarks use it; a city runs the same commands on separate hosts.

Traffic to the SuperLink is TLS (a throwaway CA made for the federation; a city uses its own);
SuperNodes authenticate with their site's Flower key, registered with the SuperLink the way the
coordinator registers it at enrolment; an unregistered SuperNode is refused. Runtime dependency
installation is off everywhere (otherwise the SuperLink would `uv sync` the
app and could pull a multi-GB CUDA torch); the apps import the installed safecity packages."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import tomli_w

from privacy.errors import SafecityError
from privacy.pki import issue, make_ca

APP = Path(__file__).parent / "flower_app"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Site:
    name: str
    config: Path  # the node's settings file (its data_dir holds its privacy ledger)
    node_config: dict[str, Any]  # extra SuperNode node config (the digits partition)
    key: Path  # the SuperNode's private key file (``safecity`` creates it at the node)
    public_key: str  # its public half, OpenSSH format: what enrolment registers
    registered: bool = True  # whether the coordinator registered the site's key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _node_config(site: Site) -> str:
    values = {"safecity-config": str(site.config), **site.node_config}
    return " ".join(f"{k}={json.dumps(v)}" for k, v in values.items())


class LocalFederation:
    """One federation per ``root`` folder (its CA, logs, run records and Flower home)."""

    def __init__(self, root: Path, sites: list[Site], timeout: float = 600.0):
        self.root, self.sites, self.timeout = root, sites, timeout
        self.port = free_port()
        self.env = {**os.environ, "FLWR_HOME": str(root / "flwr"),
                    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
                    # the SuperLink and SuperNodes start flower-superexec and the apps by name
                    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> LocalFederation:
        home = self.root / "flwr"
        home.mkdir(parents=True, exist_ok=True)
        self.ca = make_ca(self.root / "tls", "safecity local federation CA")
        server = issue(self.ca, self.root / "tls", "superlink", ["127.0.0.1", "localhost"])
        (home / "config.toml").write_text(tomli_w.dumps({"superlink": {
            "default": "city",
            "city": {"address": f"127.0.0.1:{self.port}",
                     "root-certificates": str(self.ca.certificate)}}}))
        try:
            self._start("superlink", "flower-superlink", "--ssl-certfile",
                        str(server.certificate), "--ssl-keyfile", str(server.key),
                        "--ssl-ca-certfile", str(self.ca.certificate),
                        "--enable-supernode-auth", "--disable-runtime-dependency-installation",
                        "--port", str(self.port))
            self._wait_for_port()
            for site in self.sites:
                if site.registered:
                    self.register(site)
                self.start_site(site)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def register(self, site: Site) -> None:
        """What the coordinator does at enrolment: register the site's SuperNode key."""
        public_file = self.root / f"{site.name}.pub"
        public_file.write_text(site.public_key + "\n")
        done = subprocess.run([str(BIN / "flwr"), "supernode", "register", str(public_file),
                               "city", "--name", site.name], env=self.env,
                              capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise SafecityError(f"registering {site.name}'s SuperNode key failed: "
                                f"{done.stdout[-500:]} {done.stderr[-500:]}")

    def start_site(self, site: Site) -> None:
        self._start(site.name, "flower-supernode", "--root-certificates",
                    str(self.ca.certificate), "--superlink", f"127.0.0.1:{self.port}",
                    "--port", str(free_port()),
                    "--auth-supernode-private-key", str(site.key),
                    "--node-config", _node_config(site))

    def stop_site(self, name: str, kill: bool = False) -> None:
        process = self._processes.pop(name)
        process.kill() if kill else process.terminate()
        process.wait(timeout=30)

    def run(self, **config: Any) -> dict[str, Any]:
        """Run the app with ``config`` over its defaults; the run's record, or an error with
        the end of the logs."""
        results = self.root / f"run-{time.monotonic_ns()}.json"
        overrides = self.root / "run-config.toml"
        overrides.write_text(tomli_w.dumps({**config, "results": str(results)}))
        done = subprocess.run([str(BIN / "flwr"), "run", str(APP), "city", "--stream",
                               "--run-config", str(overrides)], env=self.env,
                              capture_output=True, text=True, timeout=self.timeout,
                              check=False)
        deadline = time.monotonic() + 60
        while not results.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        if not results.exists():
            raise SafecityError(f"the training run left no record:\n{done.stdout[-2000:]}"
                                f"\n{self.log('superlink')[-2000:]}")
        return dict(json.loads(results.read_text()))

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _start(self, name: str, *command: str) -> None:
        with (self.root / f"{name}.log").open("ab") as log:
            self._processes[name] = subprocess.Popen(
                [str(BIN / command[0]), *command[1:]], stdout=log, stderr=subprocess.STDOUT,
                env=self.env, start_new_session=True)

    def _wait_for_port(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise SafecityError(f"the SuperLink did not start:\n{self.log('superlink')[-2000:]}")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for process in self._processes.values():
            process.terminate()
        for process in self._processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self._processes.clear()
