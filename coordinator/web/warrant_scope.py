"""A warrant's scope in words, for the judge or DPO asked to sign it.

The signed text holds salted commitments only; what a signer must read before signing is what
a search may do: the sites, cameras and recordings, the purpose, how many searches and until
when, and the targets themselves (plates in plain, a face search's reference images) as the
draft holds them for its signers. Each image is shown with the SHA-256 the warrant commits to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

KINDS = {"plate_watchlist": "a licence-plate watchlist search",
         "face_watchlist": "a face watchlist search (faces compared with the reference images)",
         "evidence_export": "an export of recordings as evidence"}


@dataclass(frozen=True)
class Reference:
    target: str
    data_url: str  # data:image/...;base64, (the page's CSP allows data: images only)
    sha256: str


@dataclass(frozen=True)
class Scope:
    summary: str
    kind: str
    purpose: str
    sites: list[str]
    cameras: list[str]
    recordings: str
    valid: str
    searches: int
    targets: list[str] | None  # None: the draft no longer holds them (signed or declined)
    references: list[Reference]


def when(text: str) -> str:
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC")


def plural(count: int, word: str, suffix: str = "s") -> str:
    return f"{count} {word}{suffix if count != 1 else ''}"


def lasting(start: str, end: str) -> str:
    span = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    days, hours = span.days, round((span - timedelta(days=span.days)).total_seconds() / 3600)
    parts = []
    if days:
        parts.append(plural(days, "day"))
    if hours:
        parts.append(plural(hours, "hour"))
    return " ".join(parts) or "under an hour"


def _reference(target: str, encoded: str) -> Reference:
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return Reference(target, f"data:{mime};base64,{base64.b64encode(data).decode()}",
                     hashlib.sha256(data).hexdigest())


def scope_of(warrant: dict[str, Any]) -> Scope:
    """``warrant``: the API's view of one warrant, with what its draft holds for the signers."""
    w = warrant["document"]["warrant"]
    held = warrant.get("for_signers") or {}
    targets = held.get("targets")
    references = [_reference(t, held["references"][t]) for t in targets or ()
                  if t in held.get("references", {})]
    window = w["window"]
    count = len(w["targets"])
    who = (plural(count, "vehicle") if w["kind"] != "face_watchlist"
           else f"{count} {'person' if count == 1 else 'people'}")
    summary = (f"{KINDS.get(w['kind'], w['kind']).capitalize()} for {who}, on "
               f"{plural(len(w['cameras']), 'camera')} ({', '.join(w['cameras'])}) at "
               f"{', '.join(w['sites'])}, in the recordings from {when(window['start'])} to "
               f"{when(window['end'])}, for the purpose {w['purpose_code']}: at most "
               f"{plural(w['max_uses'], 'search', 'es')}, until {when(w['expires_at'])}.")
    return Scope(
        summary=summary, kind=KINDS.get(w["kind"], w["kind"]), purpose=w["purpose_code"],
        sites=list(w["sites"]), cameras=list(w["cameras"]),
        recordings=(f"from {when(window['start'])} to {when(window['end'])} "
                    f"({lasting(window['start'], window['end'])})"),
        valid=f"from {when(w['not_before'])} until {when(w['expires_at'])}",
        searches=w["max_uses"], targets=targets, references=references)
