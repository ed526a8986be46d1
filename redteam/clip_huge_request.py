"""Probe (low, attacker c: anyone who can publish on the broker): how much work an unsigned clip
request with a huge or deeply nested ``receipt`` costs the node before it is refused.

``ClipRequest.receipt`` is ``dict[str, Any]`` with no bound (the query path's
``warrant_receipt`` is the same), and the coordinator's signature is checked over the canonical
JSON of the whole request, receipt included: the node decodes, validates, copies and serialises
whatever the broker delivers before it knows the sender. This script hands the node's clip
inbox (the code its worker runs) an unsigned request whose receipt holds 48 MB of text, then one
nested 5,000 levels deep, and prints the time, the process's peak memory and what the node did.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_huge_request.py
Exit 1 = the node did the work (serialised the payload) before refusing, or failed on the deep
one without a refusal; 0 = refused before looking at the receipt.
"""

from __future__ import annotations

import base64
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.support.world import T0, embedded_world
from tests.unit.test_clip_requests import logged, request

MIB = 48


def peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-huge-")))
    try:
        world.set_time(T0)
        world.add_node("alpha", "site-a")
        inbox = world.service("alpha").clips
        request_id = str(uuid.uuid4())
        message = request(world, logged(world, request_id=request_id), request_id=request_id)
        message["signature"] = base64.b64encode(b"\0" * 64).decode()
        message["request"]["receipt"] = {"padding": "x" * (MIB << 20)}
        before, started = peak_mib(), time.perf_counter()
        answer = inbox.answer(message)
        print(f"{MIB} MiB receipt, unsigned: {answer['outcome']} after "
              f"{time.perf_counter() - started:.2f} s, peak memory {before} -> {peak_mib()} MiB")
        nested: dict[str, Any] = {}
        deep = nested
        for _ in range(5000):
            deep["a"] = {}
            deep = deep["a"]
        message["request"]["receipt"] = nested
        try:
            outcome = inbox.answer(message)["outcome"]
        except RecursionError:
            outcome = "RecursionError (the task fails; no refusal, no log entry)"
        print(f"receipt nested 5000 deep, unsigned: {outcome}")
        found = peak_mib() - before > MIB or outcome.startswith("Recursion")
        print("FINDING: unbounded work on unauthenticated input" if found else "held")
        return 1 if found else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
