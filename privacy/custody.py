"""k-of-n custody of a node's master key (Shamir secret sharing, sealed to each custodian).

pycryptodome's ``Shamir`` takes exactly 16-byte secrets and, given too few or corrupted shares,
silently returns a wrong secret. So the 32-byte master key is never split itself: a random 16-byte
key-encryption key is split, and the master key is AES-KW-wrapped under it. Recombining the wrong
shares gives a wrong KEK, the unwrap's integrity check fails, and the error says so.

Each share (its index and 16 bytes) is sealed with HPKE to the custodian's X25519 public key, with
the node and custodian names bound in as HPKE ``info``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from Crypto.Protocol.SecretSharing import Shamir

from privacy.envelope import new_key, unwrap, wrap
from privacy.errors import CustodyError, IntegrityError
from privacy.sealing import RecipientKey, open_sealed, seal


@dataclass(frozen=True)
class Custodian:
    name: str
    public: bytes  # X25519


def fingerprint(master: bytes) -> str:
    return hashlib.sha256(b"safecity master key\n" + master).hexdigest()[:16]


def _info(node: str, custodian: str) -> bytes:
    return f"safecity custody share/v1\n{node}\n{custodian}\n".encode()


@dataclass(frozen=True)
class CustodyRecord:
    node: str
    threshold: int
    fingerprint: str
    wrapped_master: bytes
    shares: Mapping[str, bytes]  # custodian name -> sealed (index || share)

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "threshold": self.threshold, "fingerprint": self.fingerprint,
                "wrapped_master": base64.b64encode(self.wrapped_master).decode(),
                "shares": {k: base64.b64encode(v).decode() for k, v in self.shares.items()}}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> CustodyRecord:
        try:
            return cls(value["node"], int(value["threshold"]), value["fingerprint"],
                       base64.b64decode(value["wrapped_master"]),
                       {k: base64.b64decode(v) for k, v in value["shares"].items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise CustodyError(f"custody record is malformed ({exc})") from None


def split(node: str, master: bytes, custodians: Sequence[Custodian], threshold: int
          ) -> CustodyRecord:
    names = [c.name for c in custodians]
    if len(set(names)) != len(names):
        raise CustodyError("custodian names must be unique")
    if not 1 <= threshold <= len(custodians) or len(custodians) > 255:
        raise CustodyError(f"threshold must be between 1 and the {len(custodians)} custodians")
    kek = new_key(16)
    shares = Shamir.split(threshold, len(custodians), kek, ssss=False) if threshold > 1 else \
        [(i + 1, kek) for i in range(len(custodians))]
    sealed = {c.name: seal(c.public, bytes([index]) + share, _info(node, c.name))
              for c, (index, share) in zip(custodians, shares, strict=True)}
    return CustodyRecord(node, threshold, fingerprint(master), wrap(kek, master), sealed)


def open_share(record: CustodyRecord, custodian: str, key: RecipientKey) -> bytes:
    """A custodian opens their share with their private key (17 bytes: index || share)."""
    if custodian not in record.shares:
        raise CustodyError(f"{custodian!r} holds no share of this master key")
    try:
        return open_sealed(key, record.shares[custodian], _info(record.node, custodian))
    except IntegrityError:
        raise CustodyError(f"the share of {custodian!r} does not open with this key") from None


def recover(record: CustodyRecord, opened: Sequence[bytes]) -> bytes:
    """The master key from at least ``threshold`` opened shares; fails loudly otherwise."""
    distinct = {bytes(s) for s in opened}
    if len(distinct) < record.threshold:
        raise CustodyError(f"{record.threshold} shares are needed, {len(distinct)} given")
    if any(len(s) != 17 for s in distinct):
        raise CustodyError("a share has the wrong length (17 bytes: index and share)")
    pairs = sorted((s[0], s[1:]) for s in distinct)
    # With more shares than needed, any consistent subset will do: one bad share is tolerated.
    subsets = itertools.islice(itertools.combinations(pairs, record.threshold), 1000)
    for subset in subsets:
        kek = subset[0][1] if record.threshold == 1 else Shamir.combine(list(subset), ssss=False)
        try:
            master = unwrap(kek, record.wrapped_master)
        except IntegrityError:
            continue
        if fingerprint(master) == record.fingerprint:
            return master
    raise CustodyError("the shares do not reconstruct the master key: one is wrong, "
                       "corrupted or from another key")
