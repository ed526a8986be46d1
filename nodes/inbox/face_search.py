"""Face watchlist queries: a search inside one warrant's (or consent's) scope, on the node's
encrypted recordings: only the scope's segments are decrypted (logged first), frames are
sampled, faces detected and described in memory, compared with the references, and forgotten.
Each match comes back as the best frame per reference and segment, with a thumbnail in which
every other face is hidden.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import cv2
import numpy as np

from audit.records import Action
from contract.queries import Hit, SignedQuery
from contract.warrants import Refusal, WarrantRefused
from kernel.errors import SafecityError
from nodes.inbox.answers import QueryAnswers
from nodes.inbox.state import InboxState
from nodes.media import decode_clip, decode_image
from nodes.plate_sightings import thumbnail
from nodes.query_checks import Checked
from nodes.vault.site import OpenVault, open_vault
from nodes.vault.vault import Vault
from privacy import model_registry
from privacy.errors import MediaError
from privacy.face_match import FaceMatcher
from privacy.redaction.boxes import Box
from privacy.redaction.faces import CenterFaceDetector
from privacy.redaction.policy import Shape, Style
from privacy.redaction.styles import redact

MIN_FACE = 24  # pixels: smaller faces are not described (too little to match reliably)


class BadReference(SafecityError):
    """A reference image that cannot be used (not an image, or no face in it)."""


@dataclass(frozen=True)
class FaceMatch:
    target: str
    camera: str
    time: datetime
    segment: str
    frame: int
    distance: float
    thumbnail: bytes


def describe_reference(image_bytes: bytes, detector: CenterFaceDetector,
                       matcher: FaceMatcher) -> np.ndarray:
    """The descriptor of the (largest) face in a reference photo; a tight face crop in which the
    detector finds nothing is taken whole."""
    try:
        image = decode_image(image_bytes, "reference image")
    except MediaError as exc:
        raise BadReference(str(exc)) from None
    height, width = image.shape[:2]
    if min(height, width) < 20:
        raise BadReference("reference image is smaller than 20 pixels")
    if max(height, width) < 150:  # describe small crops at the size the network expects
        scale = 150 / max(height, width)
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        height, width = image.shape[:2]
    found = detector.detect(image)
    box = (max(found, key=lambda d: d.box.area).box if found
           else Box(width * 0.05, height * 0.05, width * 0.95, height * 0.95))
    return matcher.describe(image, box)


def _thumbnail(image: np.ndarray, keep: Box, others: list[Box]) -> bytes:
    """The matched face with room around it; every other face in view filled."""
    height, width = image.shape[:2]
    crop = keep.enlarged(1.0).clipped(width, height)
    canvas = image.copy()
    for box in others:
        redact(canvas, box.enlarged(0.3).clipped(width, height), Style.FILL, Shape.RECTANGLE,
               (0, 0, 0))
    return thumbnail(canvas[crop.pixel_slice(width, height)])


def frame_matches(image: np.ndarray, references: dict[str, np.ndarray],
                  detector: CenterFaceDetector, matcher: FaceMatcher
                  ) -> list[tuple[str, float, bytes]]:
    """The references one frame matches: (target, distance, thumbnail). Every face found is
    hidden in a thumbnail but the match, however small (the red team found faces under
    MIN_FACE left visible); only faces large enough to describe are compared."""
    found = [d.box for d in detector.detect(image)]
    matches = []
    for box in (b for b in found if min(b.width, b.height) >= MIN_FACE):
        descriptor = matcher.describe(image, box)
        for target, reference in references.items():
            distance = matcher.distance(descriptor, reference)
            if distance < matcher.threshold:
                others = [b for b in found if b is not box]
                matches.append((target, distance, _thumbnail(image, box, others)))
    return matches


def search(vault: Vault, cameras: list[str], start: datetime, end: datetime,
           references: dict[str, np.ndarray], detector: CenterFaceDetector,
           matcher: FaceMatcher, sample_fps: float = 2.0) -> tuple[list[FaceMatch], int]:
    """Matches in the scope, and the number of frames searched."""
    best: dict[tuple[str, str], FaceMatch] = {}
    searched = 0
    for segment in vault.segments(cameras, start, end):
        if segment.state != "ok" or segment.camera not in cameras:
            continue
        frames = list(decode_clip(vault.read(segment.id)))
        seconds = (segment.end - segment.start).total_seconds()
        fps = len(frames) / seconds if seconds > 0 else 25.0
        step = max(1, round(fps / sample_fps))
        for number in range(0, len(frames), step):
            moment = segment.start + timedelta(seconds=number / fps)
            if not start <= moment < end:
                continue
            searched += 1
            for target, distance, thumb in frame_matches(frames[number], references,
                                                         detector, matcher):
                key = (target, segment.id)
                if key not in best or distance < best[key].distance:
                    best[key] = FaceMatch(target, segment.camera, moment, segment.id, number,
                                          distance, thumb)
    return sorted(best.values(), key=lambda m: (m.time, m.target)), searched


class FaceWatchlist:
    """Answers the face watchlist queries that passed every check; the detector, the matcher
    and the vault are opened at the first one."""

    def __init__(self, state: InboxState, answers: QueryAnswers):
        self.state, self.answers = state, answers
        self._tools: tuple[CenterFaceDetector, FaceMatcher] | None = None
        self._opened: OpenVault | None = None

    def answer(self, query: SignedQuery, checked: Checked) -> dict[str, Any]:
        """Decrypt the scope's recordings (logged first), match, forget the descriptors."""
        request = query.request
        tools = self._face_tools()
        try:
            references = {t: describe_reference(checked.references.get(t, b""), *tools)
                          for t in checked.targets}
        except BadReference as exc:
            raise WarrantRefused(Refusal.BAD_REFERENCE, str(exc)) from None
        self.state.audit.append(self.answers.event(
            query, Action.CONSULTATION, "recordings_searched", 0,
            {"query_id": request.query_id, "references": len(references)}))
        matches, searched = search(self._vault().vault, list(request.cameras),
                                   checked.window.start, checked.window.end, references, *tools)
        hits = tuple(Hit(sighting_id=f"f-{m.segment}-{m.frame}", target=m.target,
                         camera=m.camera, time=m.time,
                         thumbnail=base64.b64encode(m.thumbnail).decode()) for m in matches)
        return self.answers.answered(query, hits, searched)

    def _face_tools(self) -> tuple[CenterFaceDetector, FaceMatcher]:
        if self._tools is None:
            model_dir = self.state.settings.model_dir
            face_model = model_registry.verified_model("centerface", model_dir)
            self._tools = (CenterFaceDetector(face_model, threshold=0.5, input_width=1280),
                           FaceMatcher(model_dir, self.state.settings.face_match_threshold))
        return self._tools

    def _vault(self) -> OpenVault:
        if self._opened is None:
            self._opened = open_vault(self.state.settings)
        return self._opened

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()
