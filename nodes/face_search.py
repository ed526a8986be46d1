"""A face watchlist search inside one warrant's (or consent's) scope, on the node's encrypted
recordings: only the scope's segments are decrypted, frames are sampled, faces detected and
described in memory, compared with the references, and forgotten. Each match comes back as the
best frame per reference and segment, with a thumbnail in which every other face is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np

from kernel.errors import SafecityError
from nodes.media import decode_clip, decode_image
from nodes.plate_sightings import thumbnail
from nodes.vault.vault import Vault
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
