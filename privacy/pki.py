"""A small X.509 authority for TLS between a city's hosts: a CA and the certificates it issues
(ECDSA P-256, SHA-256). For cities without a PKI of their own; those with one use theirs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kernel.errors import ConfigError
from privacy.signing import write_secret


@dataclass(frozen=True)
class Issued:
    certificate: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "safecity"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(folder: Path, name: str = "safecity city CA", days: int = 3650) -> Issued:
    """A self-signed CA certificate (``ca.pem``) and its key (``ca.key``, mode 0600)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                False, False), critical=True)
                   .sign(key, hashes.SHA256()))
    issued = Issued(folder / "ca.pem", folder / "ca.key")
    issued.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    write_secret(issued.key, _pem(key))
    return issued


def issue(ca: Issued, folder: Path, name: str, hosts: list[str], days: int = 825) -> Issued:
    """A server certificate for ``hosts`` (DNS names or IP addresses), signed by ``ca``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), None)
    ca_certificate = x509.load_pem_x509_certificate(ca.certificate.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(_name(name))
                   .issuer_name(ca_certificate.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(days=days))
                   .add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                  critical=False)
                   # the loaded key's type also admits X25519 keys, which cannot sign
                   .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]  # an EC key
    issued = Issued(folder / f"{name}.pem", folder / f"{name}.key")
    issued.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    write_secret(issued.key, _pem(key))
    return issued


def load_ca(folder: Path) -> Issued:
    ca = Issued(folder / "ca.pem", folder / "ca.key")
    if not ca.certificate.exists() or not ca.key.exists():
        raise ConfigError(f"{folder}: no city CA here (ca.pem and ca.key); make one with "
                          "`safecity pki init`")
    return ca


def fingerprint(certificate: Path) -> str:
    """SHA-256 of the certificate's DER form, as hex (what a node pins)."""
    loaded = x509.load_pem_x509_certificate(certificate.read_bytes())
    return loaded.fingerprint(hashes.SHA256()).hex()


def check_ca(pem: str) -> str:
    """``pem`` if it is one CA certificate; ValueError naming what is wrong otherwise."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise ValueError("city_ca is not a PEM certificate") from None
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        raise ValueError("city_ca is not a CA certificate (no basic constraints)") from None
    if not constraints.value.ca:
        raise ValueError("city_ca is not a CA certificate")
    return pem
