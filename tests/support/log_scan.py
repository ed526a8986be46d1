"""Searching a run's logs for what must never be in them: private keys (in each encoding they
could be printed in), passwords, plates, names, and anything shaped like a bearer token."""

from __future__ import annotations

import base64
import re
from pathlib import Path

TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
PEM_LINE = re.compile(r"^[A-Za-z0-9+/=]{40,}$")


def key_encodings(path: Path) -> set[str]:
    """The ways a private key file's secret could appear in text."""
    text = path.read_text().strip()
    found = {text}
    if "PRIVATE KEY" in text:  # PEM: each base64 line of the body
        found |= {line for line in text.splitlines() if PEM_LINE.match(line)}
        return found
    body = text.split(":", 1)[-1].split("+")[-1]  # kind:base64, or a signed-note skey
    found.add(body)
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4))
        found |= {raw.hex(), base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    except ValueError:
        pass
    return {s for s in found if len(s) >= 16}


def leaks(secrets: dict[str, str], places: dict[str, str]) -> list[str]:
    found = [f"{origin} in {place}" for place, text in places.items()
             for secret, origin in secrets.items() if secret in text]
    found += [f"a bearer token in {place}" for place, text in places.items()
              if TOKEN.search(text)]
    return found
