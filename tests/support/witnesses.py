"""The city's witnesses for tests: real `c2sp.org/tlog-witness` servers (uvicorn on loopback, in
threads), shared by every in-process city of the test session. Each city's log has its own
origin, so the witnesses keep one state per city, as real witnesses do per log."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from audit.cosignature import Cosigner
from audit.note import NoteVerifier
from audit.witness import Witness
from audit.witness_server import witness_app
from privacy.signing import SigningKey
from tests.support.served import serving_app

QUORUM = 2


class WitnessServers:
    def __init__(self, count: int = 3):
        self.root = Path(tempfile.mkdtemp(prefix="safecity-witnesses-"))
        self.cosigners = [Cosigner(f"witness-{i}.test.example/w", SigningKey.generate())
                          for i in range(count)]
        self.witnesses = [Witness(c, [], self.root / f"witness-{i}.json")
                          for i, c in enumerate(self.cosigners)]
        self._stack = ExitStack()
        self.urls = [self._stack.enter_context(serving_app(witness_app(w)))
                     for w in self.witnesses]

    def follow(self, log: NoteVerifier) -> None:
        """Every witness follows ``log`` from now on."""
        for witness in self.witnesses:
            witness.logs[log.name] = log

    def settings(self, quorum: int = QUORUM) -> dict[str, Any]:
        return {"witnesses": [{"url": u, "key": c.public.vkey()}
                              for u, c in zip(self.urls, self.cosigners, strict=True)],
                "witness_quorum": quorum}

    def close(self) -> None:
        self._stack.close()
        shutil.rmtree(self.root, ignore_errors=True)


@functools.cache
def shared_witnesses() -> WitnessServers:
    """One set of witness servers for the whole test process, closed at exit."""
    servers = WitnessServers()
    atexit.register(servers.close)
    return servers
