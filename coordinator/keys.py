"""The coordinator's own keys, created on first start under ``<data_dir>/keys`` (mode 0600).

- token: Ed25519, signs bearer tokens;
- dispatch: Ed25519, signs every query sent to a node (nodes pin its public half);
- audit log: the C2SP note key that signs the log's checkpoints (nodes pin its verifier key);
- pseudonym: 32 random bytes keying the pseudonyms people appear under in the public log;
- seal: X25519; nodes seal their answers to it (nodes pin its public half).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

from audit.keys import load_log_key, new_log_key
from audit.note import NoteSigner
from contract.warrants import key_id
from privacy.sealing import RecipientKey
from privacy.signing import SigningKey, VerifyKey, seed_file


@dataclass(frozen=True)
class CoordinatorKeys:
    token: SigningKey = field(repr=False)
    dispatch: SigningKey = field(repr=False)
    log: NoteSigner = field(repr=False)
    pseudonym_key: bytes = field(repr=False)
    sealing: RecipientKey = field(repr=False)

    def pseudonym(self, username: str) -> str:
        """A stable pseudonym for the public log; the DPO maps it back through the details."""
        digest = hmac.new(self.pseudonym_key, username.encode(), hashlib.sha256).hexdigest()
        return f"p-{digest[:16]}"


def load_keys(keys_dir: Path, origin: str) -> CoordinatorKeys:
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_file = keys_dir / "audit-log.key"
    log = load_log_key(log_file) if log_file.exists() else new_log_key(origin, log_file)
    return CoordinatorKeys(
        token=SigningKey(seed_file(keys_dir / "token.key", "ed25519-private")),
        dispatch=SigningKey(seed_file(keys_dir / "dispatch.key", "ed25519-private")),
        log=log, pseudonym_key=seed_file(keys_dir / "pseudonym.key", "hmac-sha256"),
        sealing=RecipientKey(seed_file(keys_dir / "seal.key", "x25519-private")))


def fingerprint(public: str) -> str:
    """A public key's fingerprint, as the admin page shows it: an Ed25519 key's is its
    ``key_id`` (what ``safecity node keys`` prints, what warrants and revocations name: the first
    128 bits of SHA-256 of the raw key, hex); any other key's, the first 128 bits of SHA-256
    of the key as printed."""
    text = public.strip()
    if text.startswith("ed25519:"):
        return key_id(VerifyKey.parse(text))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
