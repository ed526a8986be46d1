"""A node's own keys, created on first use under ``<data_dir>/keys`` (mode 0600).

- identity: Ed25519; signs query results and the node's bearer-token assertions.
- seal: X25519; watchlist targets and face references are sealed to it by the coordinator.
- plate: 32 random bytes; the HMAC key plate sightings are stored under. It never leaves the node.
- token: 32 random bytes; keys the rotating site-local tokens analytics events carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from contract.warrants import key_id
from privacy.sealing import RecipientKey
from privacy.signing import SigningKey, seed_file


@dataclass(frozen=True)
class NodeIdentity:
    signing: SigningKey = field(repr=False)
    sealing: RecipientKey = field(repr=False)
    plate_key: bytes = field(repr=False)
    token_key: bytes = field(repr=False)

    def public(self) -> dict[str, str]:
        return {"identity_key": self.signing.public.text(),
                "sealing_key": self.sealing.public_text(),
                "key_id": key_id(self.signing.public)}


def load_identity(keys_dir: Path) -> NodeIdentity:
    """The node's keys, each created the first time it is needed."""
    signing = seed_file(keys_dir / "identity.key", "ed25519-private")
    sealing = seed_file(keys_dir / "seal.key", "x25519-private")
    plate = seed_file(keys_dir / "plate.key", "hmac-sha256")
    tokens = seed_file(keys_dir / "token.key", "hmac-sha256")
    return NodeIdentity(SigningKey(signing), RecipientKey(sealing), plate, tokens)
