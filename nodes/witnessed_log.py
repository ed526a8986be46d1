"""The largest witnessed checkpoint of the city log this node has accepted, remembered.

A node that forgets what it accepted can be shown a shorter or a different history next time;
one that remembers demands a consistency proof from it (the C2SP witness model, applied by the
node as a client of the log). The file is small, written atomically, and only ever grows.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from audit.checkpoint import Checkpoint
from kernel.atomic_file import write_atomic
from kernel.errors import ConfigError


@dataclass(frozen=True)
class Held:
    size: int
    root: bytes


class LogHead:
    def __init__(self, data_dir: Path, origin: str):
        self.path = data_dir / "witnessed-log.json"
        self.origin = origin

    def held(self) -> Held | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.path}: unreadable ({exc}); restore it from a backup: "
                              "without it this node cannot tell a forked log") from None
        entry = data.get(self.origin) if isinstance(data, dict) else None
        if entry is None:
            return None
        try:
            return Held(int(entry["size"]), base64.b64decode(entry["root"], validate=True))
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise ConfigError(f"{self.path}: malformed; restore it from a backup") from None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Check and advance under one lock, across this node's worker processes."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def advance(self, checkpoint: Checkpoint) -> None:
        """Remember ``checkpoint`` if it is larger than what is held (call under ``locked``)."""
        held = self.held()
        if held is not None and held.size >= checkpoint.size:
            return
        data = {self.origin: {"size": checkpoint.size,
                              "root": base64.b64encode(checkpoint.root).decode()}}
        write_atomic(self.path, json.dumps(data))
