"""A body-worn camera's clip taken in at a site: checked (``nodes.bodycam_claim``), its nonce
spent, redacted by the same engine as ``safecity redact`` (faces and plates hidden, the result
under ``redacted/bodycam/``), its original bytes encrypted into the vault like any camera's raw
video (the clip's device id as the camera), and logged in the node's signed audit log as chain
of custody: the SHA-256 the device signed, the device, the officer's statement, the vault
segment and the redacted file; the clip is entered in the site's register
(``nodes.bodycam_register``), which retention reads to delete the redacted copy. Either all
of that happens or none of it stays: a clip that cannot be redacted or vaulted leaves no file
behind and no log entry.

Once taken, the clip's redacted middle frame (read back from the redacted file, never from the
original) is the device's live view and, with a ``bodycam_clip`` event at the device as its
camera, that event's evidence in the node's outbox (``nodes.events``): it reaches the
coordinator signed, by the same senders and checks as any camera's evidence
(``nodes.event_sender``, ``coordinator.evidence``), so the clip shows on its incident.

Refusals (an unknown device, a bad signature, an altered clip, a replay, a clip too large or
not a video) are one warning line each in the node's process log with the stable code, the
claimed device and SHA-256: anyone on the site's network can cause one, so they do not grow
the permanent audit log."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from io import BufferedIOBase
from pathlib import Path
from typing import Any

import numpy as np

from audit.records import Action, Actor, Event, LegalBasis, Scope, Window, rfc3339
from contract.events import BODYCAM_CLIP
from kernel.errors import ConfigError, SafecityError
from nodes.bodycam_claim import (
    ClipClaim,
    ClipRefused,
    OfficerStatement,
    checked,
    matches,
    plausible,
)
from nodes.bodycam_register import MIGRATIONS, ClipRegister
from nodes.config import NodeSettings
from nodes.events import EventStore, StoredEvent, StoredEvidence
from nodes.evidence import snapshot
from nodes.live_view import LiveViewSender
from nodes.local_db import open_store
from nodes.media import VideoReader
from nodes.pipeline import redact_video_file
from nodes.retention import Retention
from nodes.vault.site import OpenVault, open_vault
from privacy.redaction.engine import Detectors
from privacy.signing import VerifyKey

log = logging.getLogger(__name__)

CHUNK = 2**20  # the body is read and hashed a MiB at a time


class ClipIntake:
    """Takes clips one at a time (the redactor and the vault serialise anyway)."""

    def __init__(self, settings: NodeSettings, vault: OpenVault, detectors: Detectors,
                 live: LiveViewSender | None = None, events: EventStore | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.settings, self.opened, self.detectors, self.clock = settings, vault, detectors, clock
        self.live, self.events = live, events
        self.devices = {d.id: VerifyKey.parse(d.public_key) for d in settings.body_cameras}
        self.max_bytes = settings.bodycam_max_mb * 2**20
        self.skew = timedelta(seconds=settings.bodycam_skew_seconds)
        self._nonces = open_store(settings.stores.bodycam_nonces, MIGRATIONS)
        self._register = ClipRegister(self._nonces)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._nonces.close()

    def claimed(self, claim_header: str | None, signature_header: str | None,
                length: int) -> ClipClaim:
        """An upload's claim, judged from its headers alone (before any byte of its body is
        read): signed by an enrolled device, sent now, recorded at a plausible time, and for
        a body of exactly ``length`` bytes."""
        try:
            claim = checked(claim_header, signature_header, self.devices, self.clock(),
                            self.skew)
            plausible(claim, self.skew,
                      Retention.of(self.settings).cutoff(claim.device, self.clock()))
            if length != claim.size:
                raise ClipRefused("altered", 422, f"the body is {length} bytes, the device "
                                  f"signed {claim.size}")
        except ClipRefused as refused:
            log.warning("body-worn clip refused: %s", refused.detail,
                        extra={"code": refused.code})
            raise
        return claim

    def receive(self, claim: ClipClaim, body: BufferedIOBase) -> dict[str, Any]:
        """Take the body of an upload whose claim was ``claimed``: streamed (never whole in
        memory) into a private file under ``bodycam-incoming`` while hashed, checked against
        the claim, the nonce spent, and the clip taken. The file is gone afterwards whatever
        happens; a body that ends early or stalls past the socket's timeout is refused."""
        folder = self.settings.data_dir / "bodycam-incoming"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, name = tempfile.mkstemp(suffix=".part", dir=folder)  # mode 0600
        incoming = Path(name)
        digest = hashlib.sha256()
        try:
            try:
                with os.fdopen(handle, "wb") as out:
                    left = claim.size
                    while left:
                        chunk = body.read(min(left, CHUNK))
                        if not chunk:
                            raise ClipRefused("short_read", 400, f"the body ended "
                                              f"{left} bytes short of {claim.size}")
                        digest.update(chunk)
                        out.write(chunk)
                        left -= len(chunk)
            except TimeoutError:
                raise ClipRefused("timeout", 408, "the body stalled past the upload's read "
                                  "timeout") from None
            sha256 = digest.hexdigest()
            matches(claim, sha256, claim.size)
            self._spend(claim)
            return self._take(claim.device, sha256, incoming, claim.size, claim.recorded_at,
                              claim.officer, {"via": "upload", "nonce": claim.nonce,
                                              "sent_at": rfc3339(claim.sent_at)})
        except ClipRefused as refused:
            log.warning("body-worn clip refused: %s", refused.detail,
                        extra={"code": refused.code, "sha256": claim.sha256})
            raise
        finally:
            incoming.unlink(missing_ok=True)

    def ingest(self, path: Path, device: str, recorded_at: datetime | None,
               officer: OfficerStatement) -> dict[str, Any]:
        """A clip taken from the device at the site (``safecity node ingest``) by someone
        with the node's configuration: the device must still be enrolled."""
        if device not in self.devices:
            raise ClipRefused("unknown_device", 403, f"device {device!r} is not enrolled at "
                              "this site (body_cameras in the node's config)")
        if path.stat().st_size > self.max_bytes:
            raise ClipRefused("too_large", 413, f"{path.name} is larger than bodycam_max_mb "
                              f"({self.settings.bodycam_max_mb} MiB)")
        digest = hashlib.sha256()
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
        when = recorded_at or datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return self._take(device, digest.hexdigest(), path, path.stat().st_size, when,
                          officer, {"via": "ingest", "file": path.name})

    def _spend(self, claim: ClipClaim) -> None:
        try:
            self._nonces.execute("INSERT INTO nonces VALUES (?, ?, ?)",
                                 (claim.nonce, claim.device, rfc3339(self.clock())))
        except sqlite3.IntegrityError:
            raise ClipRefused("replay", 409, f"nonce {claim.nonce} was already used: a "
                              "replayed upload") from None
        # a nonce older than twice the skew can no longer pass the time check: forget it
        cutoff = rfc3339(self.clock() - 2 * self.skew)
        self._nonces.execute("DELETE FROM nonces WHERE taken_at < ?", (cutoff,))

    def _take(self, device: str, sha256: str, source: Path, size: int, recorded_at: datetime,
              officer: OfficerStatement, how: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            folder = self.settings.data_dir / "redacted" / "bodycam"
            target = folder / f"{device}-{sha256[:16]}.mp4"
            if self._register.taken(device, sha256) or target.exists():
                raise ClipRefused("duplicate", 409, f"this clip (SHA-256 {sha256[:16]}…) was "
                                  "already taken")
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                summary = redact_video_file(source, target, self.settings.redaction,
                                            self.detectors)
            except SafecityError as exc:
                target.unlink(missing_ok=True)
                raise ClipRefused("not_video", 422,
                                  f"the clip could not be read as video: {exc}") from None
            start = recorded_at.astimezone(UTC)
            end = start + timedelta(seconds=max(summary.frames / (summary.fps or 1), 0.001))
            try:
                # the vault encrypts whole segments: the one clip taken at a time, authenticated
                segment = self.opened.vault.store(device, start, end, source.read_bytes())
                self.opened.log.append(Event(
                    actor=Actor(pseudonym=device, role="body_camera",
                                agency=self.settings.site_id),
                    action=Action.COLLECTION, legal_basis=LegalBasis.STATUTE,
                    outcome="body_camera_clip_taken",
                    scope=Scope(sites=(self.settings.site_id,), cameras=(device,),
                                window=Window(start=rfc3339(start), end=rfc3339(end))),
                    counts_returned=1,
                    details={"sha256": sha256, "size": size, "device": device,
                             "segment": segment, "redacted": target.name,
                             "officer": officer.model_dump(), **how}))
                self._register.record(device, sha256, start.date(), target, segment,
                                      self.clock())
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            index = summary.frames // 2
            still = _frame(target, index)
            moment = start + timedelta(seconds=index / (summary.fps or 1))
            return {"device": device, "sha256": sha256, "size": size,
                    "segment": segment, "redacted": str(target), "frames": summary.frames,
                    "faces_hidden": summary.regions.get("face", 0),
                    "event": self._record(device, moment, still),
                    "shown": self._show(device, still)}

    def _record(self, device: str, moment: datetime, still: np.ndarray | None) -> int | None:
        """A ``bodycam_clip`` event at ``moment`` (the still's) in the outbox, the redacted
        still as its evidence unless evidence is off (``evidence_seconds = 0``); its number."""
        if self.events is None:
            return None
        (seq,) = self.events.add_many([StoredEvent(
            type=BODYCAM_CLIP, rule=BODYCAM_CLIP, camera=device, zone=None, line=None,
            direction=None, time=moment, count=1, tokens=())])
        if still is not None and self.settings.evidence_seconds:
            shot = snapshot(still, None, self.settings.evidence_width,
                            self.settings.evidence_max_bytes)
            self.events.add_evidence(StoredEvidence(seq, device, moment, shot.width,
                                                    shot.height, shot.box, shot.jpeg))
        return seq

    def _show(self, device: str, still: np.ndarray | None) -> bool:
        """The redacted clip's middle frame as the device's live view in the control room
        (the node's snapshot path: signed, the coordinator keeps it for enrolled cameras);
        the clip is kept whether or not the still gets there."""
        if self.live is None or still is None or not self.live.offer(device, still):
            return False
        try:
            self.live.send_pending()
        except Exception as exc:  # the broker's many failure types: the next clip's replaces it
            log.warning("body-worn clip's still not sent: %s", type(exc).__name__)
            return False
        return True


def _frame(redacted: Path, index: int) -> np.ndarray | None:
    """Frame ``index`` of the redacted clip, decoded from the file redaction wrote."""
    with VideoReader(redacted) as reader:
        frames = (item for kind, item in reader.packets() if kind == "video")
        return next(itertools.islice(frames, index, None), None)  # type: ignore[return-value]


@contextmanager
def clip_intake(settings: NodeSettings, live: LiveViewSender | None = None,
                events: EventStore | None = None) -> Iterator[ClipIntake]:
    """The site's intake: its vault opened (``safecity vault init`` first) and the redaction
    policy's detectors loaded; ``live`` sends each clip's redacted still to the control room,
    ``events`` (the node's outbox) takes each clip's event and evidence."""
    if not settings.body_cameras:
        raise ConfigError("no body-worn camera is enrolled at this site ([[body_cameras]] in "
                          "the node's config: id and public_key)")
    if not settings.master_key_file.exists():
        raise ConfigError("the vault is not initialised (`safecity vault init --config ...`):"
                          " a body-worn clip is kept only encrypted")
    detectors = Detectors(settings.redaction, settings.model_dir)
    with open_vault(settings) as opened:
        intake = ClipIntake(settings, opened, detectors, live, events)
        try:
            yield intake
        finally:
            intake.close()
