"""The add-checkpoint request of c2sp.org/tlog-witness, parsed and written (pure logic).

The body is ``old <size>`` on its own line, then the consistency proof from that size, one
base64 hash per line, then a blank line, then the signed checkpoint note::

    old 15
    <base64 hash>
    <base64 hash>

    <checkpoint note>

The witness answers 200 with its cosignature lines, 409 with its own size
(``text/x.tlog.size``) when ``old`` is not what it holds, 404 for a log it does not follow, 403
for a checkpoint whose signature does not verify, 422 for a rollback, a fork or a proof that
does not verify, and 400 for anything malformed.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from kernel.errors import VerificationError

MAX_BODY = 64 * 1024
MAX_PROOF = 63  # a consistency proof of a 2**63-entry tree is no longer
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: str  # the signed note text


def format_request(request: AddCheckpoint) -> bytes:
    lines = [f"old {request.old_size}", *(base64.b64encode(p).decode() for p in request.proof)]
    return ("\n".join(lines) + "\n\n" + request.checkpoint).encode()


def parse_request(body: bytes) -> AddCheckpoint:
    """Parse strictly; raise :class:`VerificationError` naming what is wrong."""
    if len(body) > MAX_BODY:
        raise VerificationError("request body is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationError("request body is not UTF-8") from None
    head, blank, checkpoint = text.partition("\n\n")
    if not blank:
        raise VerificationError("no blank line between the proof and the checkpoint")
    first, *proof_lines = head.split("\n")
    match = _OLD.fullmatch(first)
    if match is None:
        raise VerificationError("the first line must be 'old <size>'")
    if len(proof_lines) > MAX_PROOF:
        raise VerificationError("consistency proof is too long")
    proof = []
    for number, line in enumerate(proof_lines):
        try:
            item = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise VerificationError(f"proof line {number + 1} is not base64") from None
        if len(item) != 32:
            raise VerificationError(f"proof line {number + 1} is not a SHA-256 hash")
        proof.append(item)
    return AddCheckpoint(int(match.group(1)), tuple(proof), checkpoint)


def parse_size(body: bytes) -> int:
    """The witness's size in a 409 answer."""
    match = _OLD.fullmatch("old " + body.decode("ascii", "replace").strip())
    if match is None:
        raise VerificationError("the witness's conflict answer is not a tree size")
    return int(match.group(1))
