"""Evidence export under a warrant scope, and its verification by the recipient.

Only segments inside the scope (cameras, time window) are decrypted; their frames are cut to the
window and re-encoded; a manifest (segment hashes, output hashes, warrant id, chain of custody) is
signed by the node's key as a signed note; the whole archive is sealed with HPKE to the recipient.
The recipient checks the seal, the signature, every hash and the scope before opening anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timedelta
from typing import Any

from audit.note import NoteSigner, NoteVerifier, parse_note
from audit.records import Action, LegalBasis, Scope, Window, rfc3339
from kernel.canonical import canonical_json, parse_canonical
from kernel.errors import VerificationError
from nodes.errors import VaultError
from nodes.media import ClipEncoder, decode_clip
from nodes.vault.vault import Segment, Vault, _utc
from privacy.errors import IntegrityError
from privacy.sealing import RecipientKey, open_sealed, seal

HEADER = b"SAFECITY-EXPORT/1\n"
MAX_HEADER = 4096


def _info(header: bytes) -> bytes:
    return b"safecity evidence export/v1\n" + header


def in_scope(vault: Vault, cameras: list[str], start: datetime, end: datetime) -> list[Segment]:
    """The intact segments an export of ``cameras`` over [start, end) would open."""
    start, end = _utc(start), _utc(end)
    if not end > start:
        raise VaultError("the export window must end after it starts")
    segments = [s for s in vault.segments(cameras, start, end) if s.state == "ok"]
    if not segments:
        raise VaultError("no recordings in that scope (cameras and window); nothing exported")
    return segments


def export(vault: Vault, cameras: list[str], start: datetime, end: datetime, warrant_id: str,
           recipient: bytes, recipient_name: str, signer: NoteSigner,
           details: dict[str, Any] | None = None) -> bytes:
    """The sealed export; the caller has checked the warrant (see ``nodes.vault.warranted``).
    ``details`` go into the node's audit entry for the export."""
    segments = in_scope(vault, cameras, start, end)
    start, end = _utc(start), _utc(end)
    scope = Scope(sites=(vault.site,), cameras=tuple(cameras),
                  window=Window(start=rfc3339(start), end=rfc3339(end)))
    vault._log(Action.EXPORT, "exported", scope, counts=len(segments),
               legal_basis=LegalBasis.WARRANT, warrant_id=warrant_id, recipients=(recipient_name,),
               details=details)  # logged before any decrypt
    encoders: dict[str, ClipEncoder] = {}
    described = []
    for segment in segments:
        clip = vault.read(segment.id)
        frames = list(decode_clip(clip))
        seconds = (segment.end - segment.start).total_seconds()
        fps = len(frames) / seconds if seconds > 0 else 25.0
        for number, image in enumerate(frames):
            moment = segment.start + timedelta(seconds=number / fps)
            if start <= moment < end:
                encoders.setdefault(segment.camera, ClipEncoder(fps)).add(image)
        described.append({"id": segment.id, "camera": segment.camera,
                          "start": rfc3339(segment.start), "end": rfc3339(segment.end),
                          "ciphertext_sha256": segment.sha256,
                          "plaintext_sha256": hashlib.sha256(clip).hexdigest()})
    files = {f"{camera}.mkv": encoder.finish() for camera, encoder in encoders.items()}
    created = rfc3339(vault.clock())
    manifest = {
        "format": "safecity-export-manifest/v1", "node": vault.site, "warrant_id": warrant_id,
        "scope": {"cameras": sorted(cameras), "start": rfc3339(start), "end": rfc3339(end)},
        "created": created, "segments": described,
        "files": [{"name": n, "sha256": hashlib.sha256(d).hexdigest()}
                  for n, d in sorted(files.items())],
        "custody": [{"time": created, "by": signer.name, "action": "exported",
                     "to": recipient_name}],
    }
    body = canonical_json(manifest)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as bundle:
        bundle.writestr("manifest.json", body)
        bundle.writestr("manifest.sig", signer.sign(body.decode() + "\n").format())
        for name, data in sorted(files.items()):
            bundle.writestr(name, data)
    header = HEADER + canonical_json({"node": vault.site, "warrant_id": warrant_id}) + b"\n"
    return header + seal(recipient, archive.getvalue(), _info(header))


def verify_export(data: bytes, key: RecipientKey, node: NoteVerifier, cameras: list[str],
                  start: datetime, end: datetime, warrant_id: str | None = None
                  ) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Check seal, signature, hashes and scope; return the manifest and the files."""
    if not data.startswith(HEADER):
        raise VerificationError("not a safecity evidence export")
    newline = data.find(b"\n", len(HEADER), len(HEADER) + MAX_HEADER)
    if newline < 0:
        raise VerificationError("export header is malformed")
    header = data[: newline + 1]
    outer = parse_canonical(header[len(HEADER):-1])
    try:
        archive = open_sealed(key, data[newline + 1:], _info(header))
    except IntegrityError as exc:
        raise VerificationError(f"export does not open: {exc}") from None
    try:
        bundle = zipfile.ZipFile(io.BytesIO(archive))
        body = bundle.read("manifest.json")
        note = parse_note(bundle.read("manifest.sig"))
        files = {n: bundle.read(n) for n in bundle.namelist()
                 if n not in ("manifest.json", "manifest.sig")}
    except (zipfile.BadZipFile, KeyError) as exc:
        raise VerificationError(f"export archive is malformed ({exc})") from None
    node.verify(note)
    if note.text != body.decode() + "\n":
        raise VerificationError("the signature is not over this manifest")
    manifest = parse_canonical(body)
    if outer != {"node": manifest["node"], "warrant_id": manifest["warrant_id"]}:
        raise VerificationError("the sealed header does not match the manifest")
    if warrant_id is not None and manifest["warrant_id"] != warrant_id:
        raise VerificationError(f"export is for warrant {manifest['warrant_id']}, not {warrant_id}")
    listed = {f["name"]: f["sha256"] for f in manifest["files"]}
    if set(listed) != set(files):
        raise VerificationError("the archive's files differ from the manifest's list")
    for name, data_ in files.items():
        if hashlib.sha256(data_).hexdigest() != listed[name]:
            raise VerificationError(f"{name}: hash does not match the manifest")
    allowed_start, allowed_end = _utc(start), _utc(end)
    scope = manifest["scope"]
    if not set(scope["cameras"]) <= set(cameras):
        raise VerificationError(f"export covers cameras {scope['cameras']} outside the warrant")
    if datetime.fromisoformat(scope["start"]) < allowed_start or \
            datetime.fromisoformat(scope["end"]) > allowed_end:
        raise VerificationError("export window is outside the warrant's window")
    for segment in manifest["segments"]:
        if segment["camera"] not in cameras or \
                datetime.fromisoformat(segment["end"]) <= allowed_start or \
                datetime.fromisoformat(segment["start"]) >= allowed_end:
            raise VerificationError(f"segment {segment['id']} is outside the warrant's scope")
    return manifest, files


def describe(manifest: dict[str, Any]) -> str:
    return json.dumps({k: manifest[k] for k in ("node", "warrant_id", "scope", "created")})
