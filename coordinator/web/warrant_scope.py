"""A warrant's scope in words, for the judge or DPO asked to sign it.

The signed text holds salted commitments only; what a signer must read before signing is what
a search may do: the sites, cameras and recordings, the purpose, how many searches and until
when, and the targets themselves (plates in plain, a face search's reference images) as the
draft holds them for its signers. Each image is shown with the SHA-256 the warrant commits to.

What the draft holds for its signers lives in the coordinator's database, outside the signed
text: before anything is shown as authorised, each plain target, each image and the case text
are checked against the salted commitments of the warrant being signed (``commit_target``,
``commit_reference`` over the image's plain PNG, ``commit_case``), and every commitment must be
accounted for. Anything that does not match is listed as a mismatch and not shown; the page then
refuses to offer signing. (The page's script recomputes the same commitments in the browser.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contract.reference_image import check_plain_png
from contract.warrants import commit_case, commit_reference, commit_target
from privacy.errors import MediaError

KINDS = {"plate_watchlist": "a licence-plate watchlist search",
         "face_watchlist": "a face watchlist search (faces compared with the reference images)",
         "evidence_export": "an export of recordings as evidence"}


@dataclass(frozen=True)
class Reference:
    target: str
    data_url: str  # data:image/png;base64, (the page's CSP allows data: images only)
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
    references: list[Reference]  # only targets and images the warrant commits to
    mismatches: list[str]  # what the coordinator's copy shows that the warrant does not bind


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


def _image(encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return b""


@dataclass(frozen=True)
class Checked:
    """The coordinator's copy, kept only where it matches the warrant's commitments."""

    targets: list[str] | None
    references: list[Reference]
    mismatches: list[str]


def _targets(w: dict[str, Any], salt: bytes, targets: list[str]) -> tuple[list[str], list[str]]:
    committed = set(w["targets"])
    shown = [t for t in targets if commit_target(salt, t) in committed]
    wrong = [f"target {t} is not one the warrant commits to" for t in targets if t not in shown]
    if not wrong and {commit_target(salt, t) for t in shown} != committed:
        wrong.append(f"the warrant commits to {len(committed)} target(s); the coordinator's "
                     f"copy shows {len(shown)}")
    return shown, wrong


def _references(w: dict[str, Any], salt: bytes, images: dict[str, str],
                targets: list[str]) -> tuple[list[Reference], list[str]]:
    committed, shown, wrong = set(w.get("references") or ()), [], []
    for target in targets:
        data = _image(images.get(target, ""))
        sha256 = hashlib.sha256(data).hexdigest()
        try:
            check_plain_png(data)
        except MediaError:
            wrong.append(f"the image for {target} is not a plain PNG")
            continue
        if commit_reference(salt, target, sha256) not in committed:
            wrong.append(f"the image for {target} is not the one the warrant commits to")
            continue
        shown.append(Reference(target, "data:image/png;base64," + base64.b64encode(data).decode(),
                               sha256))
    if not wrong and len(shown) != len(committed):
        wrong.append(f"the warrant commits to {len(committed)} reference image(s); the "
                     f"coordinator's copy holds {len(shown)}")
    return shown, wrong


def check_held(warrant: dict[str, Any]) -> Checked:
    """Check the coordinator's copy (plain targets, images, case text) against the salted
    commitments of the warrant being signed; keep only what matches, list what does not."""
    w = warrant["document"]["warrant"]
    salt = base64.b64decode(w["target_salt"])
    wrong = []
    case = {"case_number": warrant.get("case_number") or "",
            "justification": warrant.get("justification") or ""}
    if w.get("case_commitment") and commit_case(salt, case) != w["case_commitment"]:
        wrong.append("the case number or justification shown is not the one the warrant "
                     "commits to")
    held = warrant.get("for_signers")
    if held is None:  # signed or declined: the plain targets are forgotten
        return Checked(None, [], wrong)
    targets, wrong_targets = _targets(w, salt, list(held.get("targets") or ()))
    references: list[Reference] = []
    if w["kind"] == "face_watchlist":
        references, wrong_images = _references(w, salt, held.get("references") or {}, targets)
        wrong_targets += wrong_images
    return Checked(targets, references, wrong + wrong_targets)


def scope_of(warrant: dict[str, Any]) -> Scope:
    """``warrant``: the API's view of one warrant, with what its draft holds for the signers."""
    w = warrant["document"]["warrant"]
    checked = check_held(warrant)
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
        searches=w["max_uses"], targets=checked.targets,
        references=checked.references, mismatches=checked.mismatches)
