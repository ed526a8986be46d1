"""Portable forms of the log: the bundle (everything, for a full audit) and the receipt (one
entry with its inclusion proof and the checkpoint it is proven against, checkable offline)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from audit.merkle import leaf_hash
from kernel.errors import VerificationError

BUNDLE_FORMAT = "safecity-audit-bundle/v1"
# One page of a bundle, as the log serves it (``/audit/bundle?cursor=&limit=``): a format of
# its own, so that a client reading only the first page cannot mistake it for the whole log.
PAGE_FORMAT = "safecity-audit-bundle-page/v1"
RECEIPT_FORMAT = "safecity-audit-receipt/v1"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{what} is not valid base64") from None


@dataclass(frozen=True)
class BundleEntry:
    index: int
    data: bytes
    leaf_hash: bytes | None  # as stored by the log, when the bundle carries it


@dataclass(frozen=True)
class Bundle:
    origin: str
    entries: tuple[BundleEntry, ...]
    checkpoints: tuple[str, ...]

    def to_json(self, kind: str = BUNDLE_FORMAT) -> dict[str, Any]:
        return {
            "format": kind,
            "origin": self.origin,
            "entries": [
                {"index": e.index, "data": b64(e.data)}
                | ({"leaf_hash": b64(e.leaf_hash)} if e.leaf_hash is not None else {})
                for e in self.entries
            ],
            "checkpoints": list(self.checkpoints),
        }

    @classmethod
    def from_json(cls, value: Any, kind: str = BUNDLE_FORMAT) -> Bundle:
        if not isinstance(value, dict) or value.get("format") != kind:
            raise VerificationError(f"not a {kind} document")
        entries = value.get("entries")
        checkpoints = value.get("checkpoints")
        origin = value.get("origin")
        if not isinstance(entries, list) or not isinstance(checkpoints, list):
            raise VerificationError("bundle needs 'entries' and 'checkpoints' lists")
        if not isinstance(origin, str):
            raise VerificationError("bundle needs an 'origin'")
        parsed = []
        for position, item in enumerate(entries):
            if not isinstance(item, dict) or not isinstance(item.get("index"), int) \
                    or isinstance(item.get("index"), bool):
                raise VerificationError(f"bundle entry #{position} has no integer 'index'")
            stored = item.get("leaf_hash")
            parsed.append(BundleEntry(
                item["index"], unb64(item.get("data"), f"entry {item['index']} data"),
                None if stored is None else unb64(stored, f"entry {item['index']} leaf hash")))
        if not all(isinstance(c, str) for c in checkpoints):
            raise VerificationError("bundle checkpoints must be note texts")
        return cls(origin, tuple(parsed), tuple(checkpoints))


def joined(pages: list[Bundle]) -> Bundle:
    """The pages of one log, in order, as one bundle (the verifier checks the whole)."""
    origins = {page.origin for page in pages}
    if len(origins) != 1:
        raise VerificationError(f"the bundle's pages name different logs: {sorted(origins)}")
    return Bundle(origins.pop(), tuple(e for page in pages for e in page.entries),
                  tuple(c for page in pages for c in page.checkpoints))


def fetch_bundle(fetch: Callable[[str], Any], path: str = "/audit/bundle") -> Bundle:
    """The whole log from a server's paginated bundle: ``fetch`` takes a path under the
    server's base and returns the JSON. Each page's ``next`` link (relative, RFC 3986) is
    followed while it stays at ``path`` and moves the cursor forward, so a server cannot
    send a client round in circles."""
    pages, here, cursor = [], path, -1
    while True:
        body = fetch(here)
        pages.append(Bundle.from_json(body, PAGE_FORMAT))
        link = body.get("next")
        if link is None:
            return joined(pages)
        here = urljoin(here, str(link))
        values = parse_qs(urlsplit(here).query).get("cursor", [""])
        if urlsplit(here).path != path or not values[0].isdigit() \
                or int(values[0]) <= cursor:
            raise VerificationError(f"the log's next page {link!r} does not move forward")
        if not pages[-1].entries:  # only the last page may be empty
            raise VerificationError(f"the log's page before {link!r} holds no entries")
        cursor = int(values[0])


@dataclass(frozen=True)
class Receipt:
    index: int
    data: bytes
    proof: tuple[bytes, ...]
    checkpoint: str

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.data)

    def to_json(self) -> dict[str, Any]:
        return {"format": RECEIPT_FORMAT, "index": self.index, "data": b64(self.data),
                "inclusion_proof": [b64(p) for p in self.proof], "checkpoint": self.checkpoint}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    @classmethod
    def from_json(cls, value: Any) -> Receipt:
        if not isinstance(value, dict) or value.get("format") != RECEIPT_FORMAT:
            raise VerificationError(f"not a {RECEIPT_FORMAT} document")
        index = value.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise VerificationError("receipt 'index' must be a non-negative integer")
        proof = value.get("inclusion_proof")
        if not isinstance(proof, list):
            raise VerificationError("receipt 'inclusion_proof' must be a list")
        checkpoint = value.get("checkpoint")
        if not isinstance(checkpoint, str):
            raise VerificationError("receipt 'checkpoint' must be a signed note")
        return cls(index, unb64(value.get("data"), "receipt data"),
                   tuple(unb64(p, f"proof element {i}") for i, p in enumerate(proof)),
                   checkpoint)
