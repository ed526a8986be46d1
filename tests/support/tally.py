"""What the hardening suite generated and ran, printed at the end of the test session: a
reader sees that thousands of requests, fuzz cases and fault scenarios ran, not only that
some tests passed."""

from __future__ import annotations

from collections import Counter

counts: Counter[str] = Counter()

KINDS = ("generated API requests", "fuzz cases", "fault scenarios", "route-role checks",
         "egress payloads checked", "log lines scanned for secrets")


def add(kind: str, n: int = 1) -> None:
    assert kind in KINDS, kind
    counts[kind] += n
