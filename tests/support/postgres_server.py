"""A PostgreSQL server of the test's own (initdb in a temporary folder, its own port), so a
test can stop and start it without touching the machine's server that other tests use."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.served import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, f"PostgreSQL's {name} is not installed (Debian package postgresql)"
    return found[-1]


class PostgresServer:
    """``within``: a command prefix the server runs under (``ip netns exec NAME``: a host of
    a multi-host test); it listens on that host's loopback."""

    def __init__(self, within: tuple[str, ...] = ()) -> None:
        self.within = within
        self.folder = Path(tempfile.mkdtemp(prefix="safecity-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        shutil.chown(self.folder, "postgres", "postgres")
        self._as_postgres(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                          "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*self.within, *as_postgres, *command], check=False,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        self._as_postgres(_bin("pg_ctl"), "-D", str(self.data), "-w", "-l",
                          str(self.folder / "server.log"), "-o",
                          f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1",
                          "start")

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash: no shutdown checkpoint, recovery at the next start."""
        self._as_postgres(_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
