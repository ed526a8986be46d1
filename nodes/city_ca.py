"""The city CA a node pins at enrolment: the certificate authority its TLS connections to the
city's hosts (the broker, the SuperLink) must chain to.

The coordinator puts the CA certificate (``city_ca``) in the enrolment document, which reaches the
site out of band with the keys it pins; from then on a ``rediss://`` broker URL without CA
options of its own is verified against this CA and no other, and the SuperNode trusts it unless
the config names another (``flower_ca``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kernel.atomic_file import write_atomic
from nodes.config import NodeSettings

_VERIFIED_SCHEMES = ("rediss",)


def pinned_ca_file(data_dir: Path) -> Path:
    return data_dir / "city-ca.pem"


def pin(data_dir: Path, pem: str) -> Path:
    path = pinned_ca_file(data_dir)
    write_atomic(path, pem)
    return path


def pinned_ca(data_dir: Path) -> Path | None:
    path = pinned_ca_file(data_dir)
    return path if path.is_file() else None


def verified_url(url: str, ca: Path | None) -> str:
    """``url`` with certificate verification against ``ca`` when it is a TLS broker URL that
    names no CA itself; any other URL unchanged."""
    parts = urlsplit(url)
    if ca is None or parts.scheme not in _VERIFIED_SCHEMES:
        return url
    query = dict(parse_qsl(parts.query))
    if "ssl_ca_certs" in query:
        return url
    query |= {"ssl_cert_reqs": "required", "ssl_ca_certs": str(ca)}
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def broker_url(settings: NodeSettings) -> str | None:
    """The node's broker URL, verified against the pinned city CA where it uses TLS."""
    if settings.broker_url is None:
        return None
    return verified_url(settings.broker_url, pinned_ca(settings.data_dir))


def result_backend(settings: NodeSettings) -> str | None:
    if settings.result_backend is None:
        return None
    return verified_url(settings.result_backend, pinned_ca(settings.data_dir))
