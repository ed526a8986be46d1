"""What a node pins when it is enrolled: who may sign its warrants, consents, queries and log.

The coordinator's admin enrols the node's public keys and hands the site operator an enrolment
document; ``safecity node enrol`` checks it and stores it under the node's data directory. From
then on the node trusts these keys and no others, whatever the coordinator later says.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from audit.cosignature import CosignerKey
from audit.note import NoteVerifier
from contract.key_fields import CosignerPublic, Ed25519Public, X25519Public
from contract.pins import DEFAULT_QUORUM, ROLES, Pinned, pinned_set
from contract.tasks import queue_name
from kernel.atomic_file import write_atomic
from kernel.errors import ConfigError, VerificationError, describe
from nodes.city_ca import pin
from privacy.pki import check_ca
from privacy.signing import VerifyKey

_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"


class Enrolment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(default=2, ge=2, le=2, description="version 1 pinned no witnesses: "
                         "re-enrol")
    node_id: str = Field(pattern=_NAME)
    site_id: str = Field(pattern=_NAME)
    cameras: tuple[str, ...]
    queue: str
    coordinator_key: Ed25519Public  # signs every query sent to this node
    coordinator_sealing_key: X25519Public  # this node's answers are sealed to it
    log_key: str  # the coordinator audit log's verifier key (C2SP vkey)
    judge_keys: tuple[Ed25519Public, ...] = Field(min_length=1)
    dpo_keys: tuple[Ed25519Public, ...] = Field(min_length=1)
    # The city's witnesses (C2SP cosigner vkeys) and how many of them must have cosigned a
    # checkpoint before this node believes it: the coordinator alone cannot show this node a
    # log that the public does not see.
    witness_keys: tuple[CosignerPublic, ...] = Field(min_length=1, max_length=32)
    witness_quorum: int = Field(ge=1, le=32)
    enrolled_at: AwareDatetime
    city_ca: str | None = None  # PEM: the CA the city's TLS hosts chain to (pinned, see city_ca)
    # Changes of the pinned keys (contract/pins.py): how many distinct pinned judge and DPO keys
    # must sign one (a judge and a DPO among them), fixed here so that no update can lower it;
    # and the sequence number of the last update applied (0: the keys pinned at enrolment).
    pin_quorum: int = Field(default=DEFAULT_QUORUM, ge=DEFAULT_QUORUM, le=64)
    pins_sequence: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _own_queue(self) -> Enrolment:
        if self.queue != queue_name(self.node_id):
            raise ValueError(f"the queue of {self.node_id} is {queue_name(self.node_id)}")
        return self

    @field_validator("city_ca")
    @classmethod
    def _ca(cls, value: str | None) -> str | None:
        return None if value is None else check_ca(value)

    @field_validator("witness_keys")
    @classmethod
    def _witnesses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = [CosignerKey.from_vkey(k).name for k in value]  # each one parsed already
        if len(set(names)) != len(names):
            raise ValueError("each witness is pinned once")
        return value

    @model_validator(mode="after")
    def _quorum(self) -> Enrolment:
        if self.witness_quorum > len(self.witness_keys):
            raise ValueError(f"a quorum of {self.witness_quorum} needs at least as many "
                             f"witnesses, not {len(self.witness_keys)}")
        return self

    @field_validator("log_key")
    @classmethod
    def _vkey(cls, value: str) -> str:
        try:
            NoteVerifier.from_vkey(value)
        except VerificationError as exc:
            raise ValueError(str(exc)) from None
        return value

    def coordinator(self) -> VerifyKey:
        return VerifyKey.parse(self.coordinator_key)

    def log(self) -> NoteVerifier:
        return NoteVerifier.from_vkey(self.log_key)

    def witnesses(self) -> list[CosignerKey]:
        return [CosignerKey.from_vkey(k) for k in self.witness_keys]

    def judges(self) -> list[VerifyKey]:
        return [VerifyKey.parse(k) for k in self.judge_keys]

    def dpos(self) -> list[VerifyKey]:
        return [VerifyKey.parse(k) for k in self.dpo_keys]

    def pinned(self) -> Pinned:
        """The keys a pin update changes, by role (the roles this node's enrolment has)."""
        return pinned_set({role: getattr(self, field) for role, field in ROLES.items()
                           if field in type(self).model_fields})


def enrolment_file(data_dir: Path) -> Path:
    return data_dir / "enrolment.json"


def parse_enrolment(text: str, where: str) -> Enrolment:
    try:
        return Enrolment.model_validate_json(text)
    except ValidationError as exc:
        raise ConfigError(f"{where}: not a valid enrolment: {describe(exc)}") from None


def save_enrolment(data_dir: Path, enrolment: Enrolment) -> Path:
    path = enrolment_file(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if enrolment.city_ca is not None:
        pin(data_dir, enrolment.city_ca)
    write_atomic(path, json.dumps(enrolment.model_dump(mode="json"), indent=2) + "\n")
    return path


def load_enrolment(data_dir: Path) -> Enrolment:
    path = enrolment_file(data_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: this node is not enrolled; run `safecity node enrol`") from None
    return parse_enrolment(text, str(path))
