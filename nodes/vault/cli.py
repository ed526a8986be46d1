"""``safecity vault``: initialise, record, check, purge, hold, export, verify an export, rotate
and recover the master key."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kernel.atomic_file import write_atomic
from kernel.errors import ConfigError, SafecityError, UsageError
from nodes.errors import VaultError

if TYPE_CHECKING:
    from contract.exports import ExportOrder
    from nodes.config import NodeSettings
    from nodes.vault.site import OpenVault

config_option = click.option("--config", "config_path", required=True,
                             type=click.Path(dir_okay=False, path_type=Path),
                             help="The node's TOML config.")


def _time(value: str) -> datetime:
    from audit.records import parse_time

    try:
        return parse_time(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None




def _settings(path: Path) -> NodeSettings:
    from nodes.config import load_settings

    return load_settings(path)


def _open(config_path: Path) -> OpenVault:
    from nodes.vault.site import open_vault

    return open_vault(_settings(config_path))


@click.group()
def vault() -> None:
    """The node's encrypted store of raw video."""


@vault.command()
@config_option
def init(config_path: Path) -> None:
    """Create the master key, the node key and, with custodians configured, the custody record."""
    from nodes.vault.site import initialise

    click.echo(json.dumps(initialise(_settings(config_path))))


@vault.command()
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def keygen(name: str, out: Path) -> None:
    """Create an X25519 key pair for a custodian or an export recipient; print the public key."""
    from privacy.sealing import RecipientKey

    key = RecipientKey.generate()
    key.save(out)
    click.echo(json.dumps({"name": name, "public_key": key.public_text()}))


@vault.command("record")
@config_option
@click.option("--camera", required=True)
def record_command(config_path: Path, camera: str) -> None:
    """Record a camera's raw video into the vault (encrypted segments)."""
    from datetime import UTC

    from nodes.sources import open_camera
    from nodes.vault.recorder import record

    settings = _settings(config_path)
    matches = [c for c in settings.cameras if c.id == camera]
    if not matches:
        raise ConfigError(f"unknown camera {camera!r}; configured: "
                          f"{', '.join(c.id for c in settings.cameras) or 'none'}")
    from nodes.vault.site import open_vault

    with open_vault(settings) as opened:
        source = open_camera(settings, matches[0])
        ids = record(source.frames(), source.fps, camera, opened.vault, datetime.now(UTC),
                     settings.segment_seconds)
    click.echo(json.dumps({"camera": camera, "segments": len(ids)}))


@vault.command()
@config_option
@click.option("--no-quarantine", is_flag=True, help="Report only.")
def check(config_path: Path, no_quarantine: bool) -> None:
    """Verify every segment's tag and index row; quarantine damage; exit 1 if any."""
    with _open(config_path) as opened:
        report = opened.vault.check(quarantine=not no_quarantine)
    for line in report.recovered:
        click.echo(f"recovered: {line}")
    for line in report.damaged:
        click.echo(f"DAMAGED: {line}")
    click.echo(f"{report.checked} segments checked, {len(report.damaged)} damaged")
    if not report.clean:
        raise VaultError(f"{len(report.damaged)} damaged segment(s), listed above")


@vault.command()
@config_option
def purge(config_path: Path) -> None:
    """Destroy the day keys past retention, then their ciphertext (holds are kept); delete the
    plate sightings, events, visits and body-worn clips' redacted copies past the same
    retention (held ones are kept)."""
    from nodes.retention import purge_stores
    from nodes.vault.site import open_vault

    settings = _settings(config_path)
    with open_vault(settings) as opened:
        now = opened.vault.clock()
        report = opened.vault.purge()
        deleted = purge_stores(settings, opened.log, now, opened.vault.held(now))
    click.echo(json.dumps(report.__dict__ | deleted))


@vault.command()
@config_option
@click.option("--case", "case_id", required=True)
@click.option("--camera", "cameras", multiple=True, required=True)
@click.option("--start", required=True)
@click.option("--end", required=True)
@click.option("--reason", required=True)
@click.option("--until", required=True)
def hold(config_path: Path, case_id: str, cameras: tuple[str, ...], start: str, end: str,
         reason: str, until: str) -> None:
    """Place recordings on legal hold (they survive retention until the hold ends)."""
    with _open(config_path) as opened:
        count = opened.vault.hold(case_id, list(cameras), _time(start), _time(end), reason,
                                  _time(until))
    click.echo(json.dumps({"case": case_id, "segments_held": count}))


@vault.command("export")
@config_option
@click.option("--warrant", "warrant_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The signed evidence-export warrant (JSON, as the coordinator returns it).")
@click.option("--receipt", "receipt_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The audit-log receipt that registers the warrant (JSON).")
@click.option("--opening", required=True,
              help="The salt (base64) that opens the receipt's warrant_sha256 commitment.")
@click.option("--consistency", "consistency_path",
              type=click.Path(dir_okay=False, path_type=Path),
              help="The log consistency proof for this node (JSON: `log_consistency` of GET "
              "/warrants/{id}/receipt?node_id=...); needed once the node holds another "
              "checkpoint than the receipt's.")
@click.option("--camera", "cameras", multiple=True, required=True)
@click.option("--start", required=True)
@click.option("--end", required=True)
@click.option("--recipient", required=True, help="Recipient public key, x25519:<base64>.")
@click.option("--recipient-name", required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export_command(config_path: Path, warrant_path: Path, receipt_path: Path, opening: str,
                   consistency_path: Path | None, cameras: tuple[str, ...], start: str,
                   end: str, recipient: str, recipient_name: str, out: Path) -> None:
    """Export recordings under an evidence-export warrant, sealed to the recipient: the node
    checks the warrant as it checks a query, logs the export and reports it to the city."""
    import uuid
    from datetime import UTC

    from contract.warrants import WarrantRefused
    from nodes.export_reports import send_reports
    from nodes.vault.warranted import export_under_warrant, fix
    from privacy.sealing import parse_public

    settings = _settings(config_path)
    if not out.parent.is_dir():  # found out before a use is spent
        raise SafecityError(f"{out.parent}: no such folder; create it or choose another "
                                   "--out")
    consistency = (_document(consistency_path, "consistency proof")
                   if consistency_path is not None else None)
    order = _order(str(uuid.uuid4()), _document(warrant_path, "warrant"),
                   _document(receipt_path, "receipt"), opening, cameras, _time(start),
                   _time(end), recipient_name, consistency)
    try:
        exported = export_under_warrant(settings, order, parse_public(recipient),
                                        datetime.now(UTC))
    except WarrantRefused as refusal:
        raise SafecityError(f"export refused: {fix(refusal, order)}") from None
    write_atomic(out, exported.data)
    sent = send_reports(settings)
    click.echo(json.dumps({
        "export": str(out), "bytes": len(exported.data), "export_id": exported.report.export_id,
        "warrant_id": exported.report.warrant_id, "uses_left": exported.uses_left,
        "report": "sent to the city's audit log" if sent.waiting == 0 else
        f"queued ({sent.waiting} waiting: {sent.problem}); `safecity vault send-reports` "
        "sends them"}))


def _document(path: Path, what: str) -> object:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SafecityError(f"{path}: no such {what} file; pass the {what} the "
                                   "coordinator returned (GET /warrants/{id}/receipt)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SafecityError(f"{path}: the {what} is not JSON ({exc})") from None


def _order(export_id: str, warrant: object, receipt: object, opening: str,
           cameras: tuple[str, ...], start: datetime, end: datetime, recipient_name: str,
           consistency: object = None) -> ExportOrder:
    """What the officer presents, checked for shape (the node checks the rest)."""
    from pydantic import ValidationError

    from contract.exports import ExportOrder
    from kernel.errors import describe

    try:
        return ExportOrder.model_validate({"request": {
            "export_id": export_id, "cameras": list(cameras),
            "window": {"start": start, "end": end}, "recipient": recipient_name,
            "warrant": warrant, "warrant_receipt": receipt, "warrant_opening": opening,
            "log_consistency": consistency}})
    except ValidationError as exc:
        raise SafecityError(f"the export request is malformed: {describe(exc)}; check "
                                   "--start/--end and pass the warrant and receipt as the "
                                   "coordinator returned them") \
            from None


@vault.command("send-reports")
@config_option
def send_reports_command(config_path: Path) -> None:
    """Send the export reports still waiting for the city's audit log (the broker was away)."""
    from nodes.export_reports import send_reports

    sent = send_reports(_settings(config_path))
    if sent.waiting:
        raise SafecityError(f"{sent.waiting} export reports still waiting: "
                                   f"{sent.problem}; check the node's broker_url and run again")
    click.echo(json.dumps({"sent": sent.sent}))


@vault.command("verify-export")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", "key_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Recipient private key.")
@click.option("--node-key", required=True, help="The node's public key (NAME+ID+KEY).")
@click.option("--camera", "cameras", multiple=True, required=True,
              help="The warrant's cameras.")
@click.option("--start", required=True)
@click.option("--end", required=True)
@click.option("--warrant-id")
@click.option("--extract", type=click.Path(file_okay=False, path_type=Path),
              help="After every check passes, write the videos here.")
def verify_export_command(path: Path, key_path: Path, node_key: str, cameras: tuple[str, ...],
                          start: str, end: str, warrant_id: str | None,
                          extract: Path | None) -> None:
    """Check an export's seal, signature, hashes and scope before opening it."""
    from audit.note import NoteVerifier
    from nodes.vault.export import describe, verify_export
    from privacy.sealing import RecipientKey

    manifest, files = verify_export(path.read_bytes(), RecipientKey.load(key_path),
                                    NoteVerifier.from_vkey(node_key), list(cameras),
                                    _time(start), _time(end), warrant_id)
    if extract is not None:
        extract.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            write_atomic(extract / Path(name).name, data)
    click.echo(f"OK: {describe(manifest)}; {len(manifest['segments'])} segments, "
               f"files: {', '.join(sorted(files))}")


@vault.command("rotate-master")
@config_option
def rotate_master(config_path: Path) -> None:
    """Re-wrap every day and case key under a new master key (no video is re-encrypted)."""
    from nodes.vault.site import rotate

    click.echo(json.dumps(rotate(_settings(config_path))))


@vault.command("open-share")
@click.option("--custody", required=True, type=click.Path(dir_okay=False, exists=True,
                                                           path_type=Path))
@click.option("--custodian", required=True)
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def open_share_command(custody: Path, custodian: str, key_path: Path, out: Path) -> None:
    """A custodian opens their share of the master key with their private key."""
    from privacy.custody import CustodyRecord, open_share
    from privacy.sealing import RecipientKey
    from privacy.signing import write_secret

    record = CustodyRecord.from_json(json.loads(custody.read_text()))
    share = open_share(record, custodian, RecipientKey.load(key_path))
    write_secret(out, base64.b64encode(share) + b"\n")
    click.echo(f"share of {custodian} -> {out}")


@vault.command()
@click.option("--custody", required=True, type=click.Path(dir_okay=False, exists=True,
                                                           path_type=Path))
@click.option("--share", "shares", multiple=True, required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def recover(custody: Path, shares: tuple[Path, ...], out: Path) -> None:
    """Rebuild the master key from k custodians' opened shares (fails loudly on a bad share)."""
    from privacy.custody import CustodyRecord
    from privacy.custody import recover as recover_master
    from privacy.signing import write_secret

    record = CustodyRecord.from_json(json.loads(custody.read_text()))
    opened = []
    for path in shares:
        try:
            opened.append(base64.b64decode(path.read_text().strip(), validate=True))
        except ValueError:
            raise SafecityError(f"{path}: not an opened share") from None
    master = recover_master(record, opened)
    write_secret(out, base64.b64encode(master) + b"\n")
    click.echo(f"master key recovered ({record.fingerprint}) -> {out}")
