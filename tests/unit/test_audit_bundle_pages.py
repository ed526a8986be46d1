"""A log server whose bundle pages do not move forward is refused, not followed forever."""

from __future__ import annotations

import pytest


def test_a_server_whose_pages_do_not_advance_is_refused() -> None:
    """A log server that sends a client round in circles (or off to another path) is caught,
    not followed forever."""
    from audit.bundle import PAGE_FORMAT, fetch_bundle
    from kernel.errors import VerificationError

    def circular(path: str) -> dict:  # type: ignore[type-arg]
        return {"format": PAGE_FORMAT, "origin": "o", "entries": [{"index": 0, "data": "e30="}],
                "checkpoints": [], "next": "bundle?cursor=0&limit=5"}

    with pytest.raises(VerificationError, match="does not move forward"):
        fetch_bundle(circular)
    with pytest.raises(VerificationError, match="does not move forward"):
        fetch_bundle(lambda path: {**circular(path), "next": "/elsewhere?cursor=9"})
    with pytest.raises(VerificationError, match="holds no entries"):  # endless empty pages
        fetch_bundle(lambda path: {**circular(path), "entries": [],
                                   "next": f"bundle?cursor={len(path)}"})
    with pytest.raises(VerificationError, match="not a safecity-audit-bundle-page/v1"):
        fetch_bundle(lambda path: {**circular(path), "format": "safecity-audit-bundle/v1"})
