"""Face reference images in one plain form, so that the signers see the pixels a search uses.

An image file can look different to different decoders: an animated PNG (APNG) shows browsers its
animation frame and OpenCV its default image; a JPEG's EXIF orientation, a PNG's gamma (gAMA),
colour profile (iCCP, sRGB, cHRM) or alpha channel, a CMYK JPEG or a 16-bit PNG are each rendered
by one viewer and ignored or converted by another. A warrant that commits to the SHA-256 of such a
file binds bytes, not the face the judge saw. So every reference is decoded once (OpenCV, the
decoder the search uses) and re-encoded as a *plain PNG* (PNG, RFC 2083 / W3C PNG 3rd ed.): the
signature, an IHDR for 8-bit RGB without interlacing, IDAT chunks, IEND, and nothing else (no
ancillary chunk a viewer could render differently, no bytes after IEND). The warrant commits to,
the signers are shown, and the node receives only those bytes; a node accepts nothing but a plain
PNG (:func:`check_plain_png`). Dimensions are read from the header and capped before anything is
decoded, so a small file cannot claim a huge image.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

from privacy.errors import MediaError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_SIDE, MAX_SIDE = 20, 4096
_PLAIN_IHDR = (8, 2, 0, 0, 0)  # bit depth 8, colour type 2 (RGB), deflate, filter 0, no interlace
# JPEG start-of-frame markers (ITU T.81 table B.1): every SOFn but DHT (C4), JPG (C8), DAC (CC)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The PNG's chunks, in order, each with a valid CRC; the last is IEND and ends the file."""
    if not data.startswith(SIGNATURE):
        raise MediaError("not a PNG (no PNG signature)")
    found: list[tuple[bytes, bytes]] = []
    position = len(SIGNATURE)
    while not found or found[-1][0] != b"IEND":
        if position + 12 > len(data):
            raise MediaError("the PNG is truncated (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 12 + length
        if end > len(data):
            raise MediaError(f"the PNG's {kind!r} chunk runs past the end of the file")
        body = data[position + 8:end - 4]
        if struct.unpack(">I", data[end - 4:end])[0] != zlib.crc32(kind + body) & 0xFFFFFFFF:
            raise MediaError(f"the PNG's {kind!r} chunk has a bad CRC")
        found.append((kind, body))
        position = end
    if position != len(data):
        raise MediaError(f"{len(data) - position} bytes follow the PNG's IEND chunk")
    return found


def _checked_size(width: int, height: int) -> tuple[int, int]:
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_SIDE:
        raise MediaError(f"{width}x{height} pixels; a reference is {MIN_SIDE} to {MAX_SIDE} "
                         "pixels a side")
    return width, height


def check_plain_png(data: bytes) -> tuple[int, int]:
    """Raise unless ``data`` is a plain PNG (IHDR for 8-bit RGB without interlacing first, then
    only IDAT, IEND last and nothing after it) of an allowed size; return (width, height)."""
    chunks = _chunks(data)
    kinds = [kind for kind, _ in chunks]
    if (len(kinds) < 3 or kinds[0] != b"IHDR" or kinds[-1] != b"IEND"
            or any(kind != b"IDAT" for kind in kinds[1:-1])):
        extra = sorted({k.decode("latin-1") for k in kinds if k not in (b"IHDR", b"IDAT", b"IEND")})
        raise MediaError("not a plain PNG: only IHDR, IDAT and IEND chunks are accepted"
                         + (f" (it has {', '.join(extra)})" if extra else ""))
    header = chunks[0][1]
    if len(header) != 13 or struct.unpack(">5B", header[8:]) != _PLAIN_IHDR:
        raise MediaError("not a plain PNG: the image must be 8-bit RGB without interlacing")
    width, height = _checked_size(*struct.unpack(">II", header[:8]))
    _check_rows(b"".join(body for _, body in chunks[1:-1]), width, height)
    return width, height


def _check_rows(stream: bytes, width: int, height: int) -> None:
    """The image data is one complete zlib stream of exactly ``height`` rows, each a known
    filter type (0-4) and ``width`` RGB pixels: no truncated image a viewer would fill in its
    own way, no data beyond it."""
    expected = height * (1 + 3 * width)
    inflater = zlib.decompressobj()
    try:
        rows = inflater.decompress(stream, expected + 1)
    except zlib.error as exc:
        raise MediaError(f"not a plain PNG: the image data is corrupt ({exc})") from None
    if (len(rows) != expected or not inflater.eof or inflater.unused_data
            or inflater.unconsumed_tail):
        raise MediaError("not a plain PNG: the image data is not exactly the rows IHDR declares")
    if max(rows[0::1 + 3 * width]) > 4:
        raise MediaError("not a plain PNG: a row has an unknown filter type")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from the first frame header (ITU T.81 B.2.2), before decoding."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise MediaError("the JPEG's markers are corrupt")
        marker = data[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
            continue
        if marker in _SOF and position + 9 <= len(data):
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        if marker == 0xDA:
            break
        position += 2 + struct.unpack(">H", data[position + 2:position + 4])[0]
    raise MediaError("the JPEG has no frame header")


def declared_size(data: bytes) -> tuple[int, int]:
    """The size a JPEG or PNG header declares; raise for anything else or outside the cap."""
    if data.startswith(SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        return _checked_size(*struct.unpack(">II", data[16:24]))
    if data.startswith(b"\xff\xd8"):
        return _checked_size(*_jpeg_size(data))
    raise MediaError("not a readable image (JPEG or PNG)")


def encode_plain_png(image: np.ndarray) -> bytes:
    """A plain PNG of a BGR image: one IDAT, each row with the Up filter (deterministic)."""
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    height, width = rgb.shape[:2]
    rows = rgb.reshape(height, width * 3)
    up = rows.copy()
    up[1:] = rows[1:] - rows[:-1]  # uint8 arithmetic wraps modulo 256, as the filter defines
    raw = np.hstack([np.full((height, 1), 2, np.uint8), up]).tobytes()
    return (SIGNATURE + _chunk(b"IHDR", struct.pack(">II5B", width, height, *_PLAIN_IHDR))
            + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b""))


def canonical_png(data: bytes) -> bytes:
    """The plain PNG of what OpenCV decodes from a JPEG or PNG (EXIF orientation applied,
    alpha, gamma, profiles and animation dropped, 16 bits and CMYK converted to 8-bit RGB).
    A plain PNG is already in this form and comes back as it is (whatever zlib wrote it), so
    the plain PNG the signers were shown always matches its commitment."""
    try:
        check_plain_png(data)
        return data
    except MediaError:
        pass
    declared_size(data)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise MediaError("not a readable image (JPEG or PNG)")
    _checked_size(image.shape[1], image.shape[0])
    return encode_plain_png(image)
