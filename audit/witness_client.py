"""Asking a witness to cosign (the log's side of c2sp.org/tlog-witness).

Every answer is checked before it is believed: the cosignature lines must be this witness's and
verify over the checkpoint sent, so a witness that answers garbage, another key's signature or
nothing in time counts as not having cosigned.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from audit.cosignature import CosignerKey
from audit.note import Note, Signature, parse_note
from audit.witness_protocol import AddCheckpoint, format_request, parse_size
from kernel.errors import VerificationError


class WitnessUnavailable(VerificationError):
    """The witness did not cosign: unreachable, too slow, refused, or answered garbage."""


class WitnessDisagrees(WitnessUnavailable):
    """The witness holds another size than the caller thought (409); ``size`` is its own."""

    def __init__(self, size: int):
        super().__init__(f"the witness holds size {size}")
        self.size = size


@dataclass(frozen=True)
class WitnessEndpoint:
    key: CosignerKey
    url: str  # the witness's base URL; the request goes to <url>/add-checkpoint
    # what its HTTPS certificate is checked against (host name included): a context trusting
    # the configured CA, or True for the system's CAs; never False
    verify: ssl.SSLContext | bool = True
    trusted: str = "the system's CAs"  # said when its certificate is refused


def witness_endpoint(key: CosignerKey, url: str, ca: str | None = None) -> WitnessEndpoint:
    """The witness at ``url``; its certificate must chain to the CA certificate in the file
    ``ca`` (PEM), or to the system's CAs without one. Host names are checked either way."""
    if ca is None:
        return WitnessEndpoint(key, url)
    return WitnessEndpoint(key, url, ssl.create_default_context(cafile=ca), ca)


def add_checkpoint(endpoint: WitnessEndpoint, note: Note, old_size: int,
                   proof: Sequence[bytes], timeout: float,
                   post: Callable[..., httpx.Response] = httpx.post) -> Signature:
    """Send ``note`` with the proof from ``old_size``; return the witness's checked cosignature."""
    body = format_request(AddCheckpoint(old_size, tuple(proof), note.format()))
    try:
        response = post(endpoint.url.rstrip("/") + "/add-checkpoint", content=body,
                        timeout=timeout, follow_redirects=False, verify=endpoint.verify)
    except httpx.HTTPError as exc:
        refused = _certificate_error(exc)
        if refused is not None:
            raise WitnessUnavailable(
                f"its TLS certificate at {endpoint.url} was refused ({refused}); it must "
                f"chain to {endpoint.trusted} and name the URL's host") from None
        raise WitnessUnavailable(f"unreachable at {endpoint.url} ({type(exc).__name__})"
                                 ) from None
    if response.status_code == 409:
        raise WitnessDisagrees(parse_size(response.content[:32]))
    if response.status_code != 200:
        raise WitnessUnavailable(f"refused the checkpoint (HTTP {response.status_code}: "
                                 f"{_title(response)})")
    return _checked(endpoint.key, note, response.content[:4096])


def _checked(key: CosignerKey, note: Note, answer: bytes) -> Signature:
    try:
        lines = parse_note(note.format() + answer.decode("utf-8"))
    except (VerificationError, UnicodeDecodeError):
        raise WitnessUnavailable("answered something that is not a cosignature") from None
    mine = [s for s in lines.signatures if s.name == key.name and s.key_id == key.key_id]
    if not mine:
        raise WitnessUnavailable("answered no cosignature under its pinned key")
    cosigned = Note(note.text, tuple(mine))
    try:
        key.verify(cosigned)
    except VerificationError as exc:
        raise WitnessUnavailable(f"answered a cosignature that does not verify ({exc})") from None
    return mine[-1]


def _certificate_error(exc: BaseException) -> str | None:
    """Why the witness's certificate was not accepted, if that is why the request failed."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or "certificate verify failed")
        seen = seen.__cause__ or seen.__context__
    return None


def _title(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))[:200]
    except ValueError:
        return "no detail"
