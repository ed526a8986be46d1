"""The key a node's Flower SuperNode authenticates with: ECDSA P-384 in OpenSSH format, as
Flower requires (the node's Ed25519 identity key cannot serve). Created on first use under the
node's keys folder (mode 0600); its public half is what the coordinator registers with its
SuperLink, so a SuperNode whose key was not registered is refused."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from privacy.signing import write_secret

NAME = "flower.key"


def flower_key(keys_dir: Path) -> tuple[Path, str]:
    """(path of the private key file, the public key in OpenSSH format)."""
    path = keys_dir / NAME
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP384R1())
        write_secret(path, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.OpenSSH,
                                             serialization.NoEncryption()))
    private = serialization.load_ssh_private_key(path.read_bytes(), None)
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH)
    return path, public.decode()
