"""Whether a JPEG is a plain sequential one, read from its markers without decoding a pixel.

A decoder's cost grows with the number of scans, not the bytes: a progressive JPEG (T.81,
Annex G) may repeat a 14-byte refinement scan thousands of times, and libjpeg-turbo (OpenCV)
and Chromium run a pass over every coefficient of the picture for each one (red team 2: an
80 kB 1920x1920 frame with 4,671 scans cost 17 s of a worker and 23 s of each viewer's
browser). Nodes write baseline JPEGs (``cv2.imencode`` without ``IMWRITE_JPEG_PROGRESSIVE``),
one scan for all components, so a service taking pictures from nodes walks the markers first
and refuses anything else: progressive or lossless frames, more scans than components could
need, and marker streams that do not parse.
"""

from __future__ import annotations

from kernel.jpeg_size import EOI, SOI, SOS, STANDALONE

# Sequential Huffman frames (T.81, Table B.1): SOF0 baseline and SOF1 extended. Every other
# frame kind is refused: progressive (SOF2, the scan bomb), lossless, hierarchical, arithmetic.
SEQUENTIAL = frozenset({0xC0, 0xC1})
OTHER_FRAMES = frozenset({0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# A sequential picture has each component in exactly one scan: at most one scan per component
# (Y, Cb, Cr; CMYK has four). A node's encoder writes one interleaved scan.
MAX_SCANS = 4
RESTARTS = frozenset(range(0xD0, 0xD8))


def sequential_problem(data: bytes) -> str | None:
    """None when ``data`` is SOI, segments with their lengths, one sequential frame header,
    at most ``MAX_SCANS`` scans each followed by its entropy-coded data, then EOI at its end;
    otherwise a fixed phrase saying what is wrong (never quoting the picture)."""
    if not data.startswith(SOI):
        return "does not start as a JPEG"
    at, frame, scans = 2, False, 0
    while at + 2 <= len(data):
        if data[at] != 0xFF:
            return "has bytes between its segments"
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte before the marker (T.81, B.1.1.2)
            at += 1
            continue
        if marker == EOI:
            if at + 2 != len(data):
                return "has bytes after its end"
            return None if scans else "has no scan"
        if marker in STANDALONE:
            at += 2
            continue
        if at + 4 > len(data):
            return "ends inside a segment"
        end = at + 2 + int.from_bytes(data[at + 2:at + 4], "big")
        if end < at + 4 or end > len(data):
            return "has a segment length past its end"
        if marker in OTHER_FRAMES:
            return "is not a baseline JPEG (progressive or another frame kind)"
        if marker in SEQUENTIAL:
            if frame:
                return "has more than one frame header"
            frame = True
        if marker == SOS:
            scans += 1
            if not frame:
                return "has a scan before its frame header"
            if scans > MAX_SCANS:
                return f"has more than {MAX_SCANS} scans"
            scanned = _entropy_end(data, end)
            if scanned is None:
                return "ends inside a scan"
            end = scanned
        at = end
    return "has no end marker"


def _entropy_end(data: bytes, at: int) -> int | None:
    """Where the entropy-coded data starting at ``at`` ends: the next marker that is neither a
    stuffed zero (FF 00) nor a restart (FF D0-D7), nor a fill byte; None when there is none."""
    while True:
        at = data.find(b"\xff", at)
        if at < 0 or at + 1 >= len(data):
            return None
        following = data[at + 1]
        if following == 0 or following in RESTARTS or following == 0xFF:
            at += 1 if following == 0xFF else 2
            continue
        return at
