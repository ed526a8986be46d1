"""A federation on one machine: Flower's SuperLink and one SuperNode per site as separate
processes on loopback, started with the same commands a city uses on separate hosts (the
SuperLink as ``safecity fl superlink`` runs it, each site with ``safecity node supernode``).
The demo, the tests and the benchmarks use it.

Traffic to the SuperLink is TLS (a throwaway CA made for the federation; a city uses its own);
SuperNodes authenticate with their site's Flower key, registered with the SuperLink the way the
coordinator registers it at enrolment; an unregistered SuperNode is refused."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from coordinator.learning.superlink import (
    BIN,
    SuperLink,
    superlink_command,
    superlink_environment,
    wait_for_port,
)
from privacy.pki import issue, make_ca


@dataclass(frozen=True)
class Site:
    name: str
    config: Path  # the node's settings file (its data_dir holds its ledger and trajectories)
    public_key: str  # the SuperNode key's public half (``safecity node keys``: flower_key)
    node_config: dict[str, Any] = field(default_factory=dict)  # task options (benchmarks)
    registered: bool = True  # whether the coordinator registered the site's key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalFederation:
    """One federation per ``root`` folder (its CA, logs, run records and Flower home)."""

    def __init__(self, root: Path, sites: list[Site], timeout: float = 600.0):
        self.root, self.sites, self.timeout = root, sites, timeout
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> LocalFederation:
        self.root.mkdir(parents=True, exist_ok=True)
        self.ca = make_ca(self.root / "tls", "safecity local federation CA")
        server = issue(self.ca, self.root / "tls", "superlink", ["127.0.0.1", "localhost"])
        self.superlink = SuperLink(self.address, self.ca.certificate, self.root / "flwr",
                                   self.timeout)
        try:
            self._start("superlink", superlink_command(self.port, server.certificate,
                                                       server.key, self.ca.certificate),
                        superlink_environment(self.root / "flwr"))
            wait_for_port(self.address, log=self.root / "superlink.log")
            for site in self.sites:
                if site.registered:
                    self.register(site)
                self.start_site(site)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def register(self, site: Site) -> None:
        """What the coordinator does for an enrolled site: register its SuperNode key."""
        self.superlink.register(site.name, site.public_key)

    def start_site(self, site: Site) -> None:
        self._start(site.name, [str(BIN / "safecity"), "node", "supernode", "--config",
                                str(site.config), "--superlink", self.address, "--ca",
                                str(self.ca.certificate), "--port", str(free_port()),
                                "--node-config", json.dumps(site.node_config)], None)

    def stop_site(self, name: str, kill: bool = False) -> None:
        """Stop a site's SuperNode and the ClientApp it may be running (SIGKILL: a crash)."""
        process = self._processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        process.wait(timeout=30)

    def run(self, **config: Any) -> dict[str, Any]:
        """Run the app with ``config`` over its defaults; the run's record."""
        return self.superlink.run(self.root / f"run-{time.monotonic_ns()}.json", **config)

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _start(self, name: str, command: list[str], env: dict[str, str] | None) -> None:
        with (self.root / f"{name}.log").open("ab") as log:
            self._processes[name] = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for process in self._processes.values():
            _signal(process, signal.SIGTERM)
        for process in self._processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL)
                process.wait(timeout=10)
        self._processes.clear()


def _signal(process: subprocess.Popen[bytes], number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, number)
