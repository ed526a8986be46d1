"""Setting up and opening a node's vault from its settings: keys, custody, audit log."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from audit.keys import load_log_key, new_log_key
from audit.log import AuditLog
from audit.note import NoteSigner
from kernel.atomic_file import write_atomic
from kernel.errors import ConfigError
from nodes.config import NodeSettings
from nodes.vault.vault import Vault
from privacy.custody import Custodian, CustodyRecord, fingerprint, split
from privacy.envelope import new_key
from privacy.sealing import parse_public
from privacy.signing import write_secret


@dataclass
class OpenVault:
    vault: Vault
    log: AuditLog
    signer: NoteSigner

    def close(self) -> None:
        self.vault.close()
        self.log.close()

    def __enter__(self) -> OpenVault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_master(settings: NodeSettings) -> bytes:
    path = settings.master_key_file
    try:
        data = base64.b64decode(path.read_text().strip(), validate=True)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no master key; run `safecity vault init` first") from None
    except ValueError:
        raise ConfigError(f"{path}: not a master key file") from None
    if len(data) != 32:
        raise ConfigError(f"{path}: a master key is 32 bytes")
    return data


def custody_record(settings: NodeSettings, master: bytes) -> CustodyRecord | None:
    if not settings.custodians:
        return None
    custodians = [Custodian(c.name, parse_public(c.public_key)) for c in settings.custodians]
    record = split(settings.site_id, master, custodians, settings.custody_threshold)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(settings.data_dir / "custody.json", json.dumps(record.to_json(), indent=2))
    return record


def initialise(settings: NodeSettings) -> dict[str, object]:
    """Create the master key (0600), the node's signing key and the custody record."""
    settings.master_key_file.parent.mkdir(parents=True, exist_ok=True)
    master = new_key()
    write_secret(settings.master_key_file, base64.b64encode(master) + b"\n")
    signer = new_log_key(settings.node_name, settings.node_key_file)
    record = custody_record(settings, master)
    return {"node_key": signer.verifier.vkey(), "master_fingerprint": fingerprint(master),
            "custodians": [c.name for c in settings.custodians],
            "threshold": record.threshold if record else None}


def open_vault(settings: NodeSettings) -> OpenVault:
    signer = load_log_key(settings.node_key_file)
    log = AuditLog(settings.audit_url, signer)
    retention = {c.id: c.retention_days for c in settings.cameras
                 if c.retention_days is not None}
    try:
        vault = Vault(settings.vault_dir, read_master(settings), settings.site_id, log,
                      retention, settings.retention_days,
                      reserve_bytes=settings.vault_reserve_mb * 2**20)
    except BaseException:
        log.close()
        raise
    return OpenVault(vault, log, signer)


def rotate(settings: NodeSettings) -> dict[str, object]:
    """A new master key: day and case keys re-wrapped, custody re-split, key file replaced."""
    new_master = new_key()
    with open_vault(settings) as opened:
        count = opened.vault.rotate_master(new_master)
    write_atomic(settings.master_key_file, base64.b64encode(new_master) + b"\n")
    custody_record(settings, new_master)
    return {"rewrapped_keys": count, "master_fingerprint": fingerprint(new_master)}
