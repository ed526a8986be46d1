"""The vendored browser libraries are exactly the files docs/vendored.md lists, byte for byte
(SHA-256): a library changed, added or removed without its licence and provenance recorded
fails here."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "coordinator" / "web" / "static" / "vendor"


def test_every_vendored_file_is_listed_with_its_digest() -> None:
    listed = {path: digest for digest, path in re.findall(
        r"^([0-9a-f]{64})  (\S+)$", (ROOT / "docs" / "vendored.md").read_text(), re.M)}
    present = {str(p.relative_to(VENDOR)): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in VENDOR.rglob("*") if p.is_file()}
    assert present == listed
    for licence in ("leaflet/LICENSE", "leaflet.markercluster/MIT-LICENCE.txt",
                    "swagger-ui-dist/LICENSE", "swagger-ui-dist/NOTICE", "redoc/LICENSE"):
        assert licence in present
