"""``safecity warrant``: judges' and DPOs' keys, drafting, signing and checking warrants."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError

from audit.records import parse_time
from contract.pins import PinUpdate
from contract.queries import Revocation, SignedRevocation
from contract.reference_image import canonical_png, check_plain_png
from contract.warrants import (
    SignedWarrant,
    Warrant,
    commit_reference,
    commit_target,
    key_id,
    new_salt,
    verify,
)
from contract.warrants import (
    sign as sign_warrant,
)
from coordinator.web.warrant_scope import scope_of
from kernel.atomic_file import write_atomic
from kernel.errors import SafecityError
from privacy.errors import MediaError
from privacy.signing import SigningKey, VerifyKey


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SafecityError(f"{path}: cannot read JSON ({exc})") from None


Model = TypeVar("Model", bound=BaseModel)


def _model(model: type[Model], value: object, path: Path) -> Model:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise SafecityError(f"{path}: {where}: {first['msg']}") from None


@click.group()
def warrant() -> None:
    """Warrants: draft, sign (judge, DPO countersignature), verify."""


@warrant.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def keygen(out: Path) -> None:
    """Create an Ed25519 key file (mode 0600) for a judge or a DPO; print its public key."""
    key = SigningKey.generate()
    key.save(out)
    click.echo(key.public.text())


def _reference_commitments(body: dict[str, Any], request: Path, salt: bytes,
                           plain_dir: Path | None) -> list[str] | None:
    """A face request names one image file per target (``references``: target id to a path
    beside the request); the warrant commits to the SHA-256 of each image's plain PNG (what the
    coordinator keeps and the node searches with), so the signers sign the exact pixels a search
    may use."""
    references = body.get("references")
    if body.get("kind") != "face_watchlist":
        if references is not None:
            raise SafecityError(f"{request}: 'references' belong to face_watchlist requests only")
        return None
    targets = [str(t) for t in body["targets"]]  # a list: the caller checked
    if not isinstance(references, dict) or set(references) != set(targets):
        raise SafecityError(f"{request}: a face request needs 'references': one image file "
                            "per target id")
    commitments = []
    for target, name in references.items():
        path = request.parent / str(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SafecityError(f"{request}: references.{target}: cannot read {path} "
                                f"({exc.strerror})") from None
        try:
            plain = canonical_png(data)
        except MediaError as exc:
            raise SafecityError(f"{request}: references.{target}: {path}: {exc}") from None
        commitments.append(commit_reference(salt, target, hashlib.sha256(plain).hexdigest()))
        if plain_dir is not None:
            plain_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(plain_dir / f"{target}.png", plain)
    return sorted(commitments)


@warrant.command()
@click.argument("request", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--plain-references", "plain_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write each face reference's plain PNG (TARGET.png), the exact image the "
              "warrant commits to, into this directory for the signers.")
def draft(request: Path, out: Path, plain_dir: Path | None) -> None:
    """Turn a request (plain targets; for a face search, an image file per target) into an
    unsigned warrant (salted commitments to the targets and the images)."""
    body = _read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("targets"), list):
        raise SafecityError(f"{request}: needs a 'targets' list")
    salt = new_salt()
    raw_salt = base64.b64decode(salt)
    body = body | {"target_salt": salt,
                   "targets": [commit_target(raw_salt, str(t)) for t in body["targets"]],
                   "references": _reference_commitments(body, request, raw_salt, plain_dir)}
    drafted = _model(Warrant, body, request)
    write_atomic(out, SignedWarrant(warrant=drafted).model_dump_json(indent=2))
    images = f" and {len(drafted.references)} reference images" if drafted.references else ""
    click.echo(f"drafted warrant {drafted.warrant_id} with {len(drafted.targets)} "
               f"targets{images} -> {out}")


@warrant.command("sign")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", "key_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "role", type=click.Choice(["judge", "dpo"]), required=True)
def sign_command(path: Path, key_path: Path, role: str) -> None:
    """Sign a warrant file in place, as the judge or (countersigning) as the DPO."""
    signed = _model(SignedWarrant, _read_json(path), path)
    signature = sign_warrant(signed.warrant, SigningKey.load(key_path))
    updated = signed.model_copy(update={role: signature})
    write_atomic(path, updated.model_dump_json(indent=2))
    click.echo(f"signed {signed.warrant.warrant_id} as {role}")


def _reference_file(value: str) -> tuple[str, Path]:
    target, separator, name = value.partition("=")
    if not separator or not target or not name:
        raise SafecityError(f"--reference {value}: give TARGET=FILE")
    return target, Path(name)


@warrant.command("show")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--target", "targets", multiple=True, help="A plain target to check (repeat).")
@click.option("--reference", "references", multiple=True,
              help="TARGET=FILE: a face reference image (a plain PNG) to check (repeat).")
def show_command(path: Path, targets: tuple[str, ...], references: tuple[str, ...]) -> None:
    """Print a warrant's scope in words and check plain targets and reference images against
    its salted commitments, before signing it offline; a mismatch exits non-zero."""
    signed = _model(SignedWarrant, _read_json(path), path)
    w = signed.warrant
    click.echo(scope_of({"document": signed.model_dump(mode="json")}).summary)
    salt = base64.b64decode(w.target_salt)
    for target in targets:
        if commit_target(salt, target) not in w.targets:
            raise SafecityError(f"{path}: target {target} is not one the warrant commits to")
        click.echo(f"target {target}: committed")
    for value in references:
        target, image = _reference_file(value)
        try:
            data = image.read_bytes()
            check_plain_png(data)
        except OSError as exc:
            raise SafecityError(f"--reference {value}: cannot read {image} ({exc.strerror})"
                                ) from None
        except MediaError as exc:
            raise SafecityError(f"--reference {value}: {exc}; a viewer may show other pixels "
                                "than a search uses (use the plain PNG the draft wrote)") from None
        sha256 = hashlib.sha256(data).hexdigest()
        if commit_reference(salt, target, sha256) not in (w.references or ()):
            raise SafecityError(f"{path}: {image} is not the image the warrant commits to for "
                                f"{target}")
        click.echo(f"reference {target}: {image} (SHA-256 {sha256}) committed")
    unchecked = len(w.targets) - len(set(targets))
    if unchecked:
        click.echo(f"{unchecked} of {len(w.targets)} targets not checked here")


@warrant.command("verify")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--judge-key", "judge_keys", multiple=True, required=True)
@click.option("--dpo-key", "dpo_keys", multiple=True)
@click.option("--at", "at", help="Check validity at this RFC 3339 time (default: now).")
def verify_command(path: Path, judge_keys: tuple[str, ...], dpo_keys: tuple[str, ...],
                   at: str | None) -> None:
    """Check signatures against the given public keys and validity at a time."""
    signed = _model(SignedWarrant, _read_json(path), path)
    try:
        now = parse_time(at) if at else datetime.now(UTC)
    except ValueError as exc:
        raise SafecityError(f"--at: {exc}") from None
    checked = verify(signed, [VerifyKey.parse(k) for k in judge_keys],
                     [VerifyKey.parse(k) for k in dpo_keys], now)
    click.echo(f"OK: {checked.warrant_id} ({checked.kind.value}) valid until "
               f"{checked.expires_at.isoformat()}")


@warrant.command("revoke")
@click.option("--warrant-id", required=True)
@click.option("--reason", required=True, help="A short code, e.g. case-closed.")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def revoke_command(warrant_id: str, reason: str, key_path: Path, out: Path) -> None:
    """Sign a revocation (judge, or DPO for a consent) to POST to /warrants/ID/revocation."""
    revocation = _model(Revocation, {"warrant_id": warrant_id, "reason": reason,
                                     "revoked_at": datetime.now(UTC).isoformat()}, out)
    key = SigningKey.load(key_path)
    signed = SignedRevocation(revocation=revocation, key_id=key_id(key.public),
                              signature=revocation.sign(key))
    write_atomic(out, signed.model_dump_json(indent=2))
    click.echo(f"signed the revocation of {warrant_id} -> {out}")


@warrant.command("sign-pins")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def sign_pins_command(path: Path, key_path: Path, out: Path) -> None:
    """Sign a change of the keys nodes pin (the JSON of GET /pins/SEQUENCE, or its "update"),
    as a pinned judge or DPO; the body to POST to /pins/SEQUENCE/signatures goes to --out."""
    body = _read_json(path)
    if isinstance(body, dict) and isinstance(body.get("update"), dict):
        body = body["update"]
    update = _model(PinUpdate, body, path)
    key = SigningKey.load(key_path)
    write_atomic(out, json.dumps({"signature": update.sign(key)}, indent=2) + "\n")
    for change in update.changes:
        for verb, keys in (("adds", change.add), ("retires", change.retire)):
            for text in keys:
                click.echo(f"update {update.sequence} {verb} {change.role} key {text}")
    click.echo(f"signed pin update {update.sequence} ({update.reason}) as {key_id(key.public)} "
               f"-> {out}")
