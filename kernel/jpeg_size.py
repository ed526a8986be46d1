"""A JPEG's picture size read from its frame header, without decoding a pixel.

A JPEG states its height and width in its start-of-frame segment (ITU-T T.81, B.2.2), which a
decoder allocates for before it reads the scan. A picture small on the wire can declare a frame
thousands of pixels a side, so a service that takes pictures from elsewhere compares the stated
size with what it accepts before it lets a decoder allocate for it."""

from __future__ import annotations

SOI = b"\xff\xd8"
# Start-of-frame markers (T.81, Table B.1): SOF0-3, 5-7, 9-11 and 13-15; C4 (DHT), C8 (JPG) and
# CC (DAC) share the range but are not frames.
FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7,
                    0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Markers without a length field (T.81, B.1.1.3): TEM and RST0-7.
STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
SOS, EOI = 0xDA, 0xD9


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame segment; None when ``data`` does not start
    as a JPEG or ends, or reaches its scan, before a frame header."""
    if not data.startswith(SOI):
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None  # segments follow one another; anything else is not a JPEG
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte before the marker (T.81, B.1.1.2)
            at += 1
            continue
        if marker in STANDALONE:
            at += 2
            continue
        if marker in (SOS, EOI):
            return None
        length = int.from_bytes(data[at + 2:at + 4], "big")
        if length < 2:
            return None
        if marker in FRAMES:
            if length < 8 or at + 9 > len(data):
                return None
            height = int.from_bytes(data[at + 5:at + 7], "big")
            width = int.from_bytes(data[at + 7:at + 9], "big")
            return width, height
        at += 2 + length
    return None
