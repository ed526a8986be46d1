"""``safecity audit``: keys, appends, export, verification, receipts, serving, witnessing."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from kernel.atomic_file import write_atomic
from kernel.errors import SafecityError, UsageError, VerificationError

if TYPE_CHECKING:  # imported where used: each command loads only what it needs
    import httpx

    from audit.bundle import Bundle
    from audit.log import AuditLog

db_option = click.option("--db", envvar="SAFECITY_AUDIT_DB", required=True,
                         help="Database URL, e.g. sqlite:///audit.db or postgresql+psycopg://...")
key_option = click.option("--key", "key_path", envvar="SAFECITY_AUDIT_KEY", required=True,
                          type=click.Path(dir_okay=False, path_type=Path),
                          help="The log's private key file.")
log_key_option = click.option("--log-key", envvar="SAFECITY_AUDIT_LOG_KEY", required=True,
                              help="The log's public verifier key (NAME+ID+KEY).")
url_option = click.option("--url", help="A running coordinator (or `safecity audit serve`) "
                          "base URL.")
bundle_option = click.option("--bundle", "bundle_path", help="An exported bundle file.",
                             type=click.Path(dir_okay=False, exists=True, path_type=Path))
witness_option = click.option("--witness-key", "witness_keys", multiple=True,
                              help="A witness's public key; its cosignatures are checked.")


def _open_log(db: str, key_path: Path) -> AuditLog:
    from audit.keys import load_log_key
    from audit.log import AuditLog

    return AuditLog(db, load_log_key(key_path))


@click.group()
def audit() -> None:
    """The tamper-evident audit log: append, export, verify, prove."""


@audit.command()
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--witness", is_flag=True, help="Make a witness (cosigner) key instead.")
def keygen(name: str, out: Path, witness: bool) -> None:
    """Create a private key file (mode 0600) and print its public key."""
    from audit.keys import new_log_key, new_witness_key

    if witness:
        click.echo(new_witness_key(name, out).public.vkey())
    else:
        click.echo(new_log_key(name, out).verifier.vkey())


@audit.command()
@db_option
@key_option
@click.option("--event", "event_file", type=click.File("r"), default="-",
              help="The event as JSON (default: standard input).")
def append(db: str, key_path: Path, event_file: IO[str]) -> None:
    """Append one event; print its index once it is durable."""
    from pydantic import ValidationError

    from audit.records import Event

    try:
        event = Event.model_validate_json(event_file.read())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise UsageError(f"invalid event: {where}: {first['msg']}") from None
    with _open_log(db, key_path) as log:
        done = log.append(event)
    click.echo(json.dumps({"index": done.index, "event_id": done.event_id,
                           "checkpoint_size": done.checkpoint_size}))


@audit.command()
@db_option
@click.option("--origin", required=True, help="The log's origin (its key name).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export(db: str, origin: str, out: Path) -> None:
    """Write the whole log as a bundle file, as stored (even if tampered)."""
    from audit.log import read_bundle
    from audit.storage import engines

    _, reader = engines(db)
    bundle = read_bundle(reader, origin)
    write_atomic(out, json.dumps(bundle.to_json()))
    click.echo(f"{len(bundle.entries)} entries, {len(bundle.checkpoints)} checkpoints -> {out}")


@functools.cache
def _http() -> httpx.Client:
    """One client for the whole command: `verify --url` asks a log for about a thousand proofs,
    and a client per request re-read the CA bundle (about 45 ms) and opened a new connection
    each time, 40 s for a log of 1,100 entries."""
    import httpx

    return httpx.Client(timeout=60)


def _fetch_json(url: str) -> object:
    import httpx

    try:
        response = _http().get(url)
    except httpx.HTTPError as exc:
        raise SafecityError(f"{url}: {exc}") from None
    if response.status_code != 200:
        raise SafecityError(f"{url}: HTTP {response.status_code}")
    return response.json()


@audit.command()
@url_option
@bundle_option
@log_key_option
@witness_option
@click.option("--remember", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep the verified head here; next time, also check the log is consistent "
                   "with it (catches rollbacks and forks between runs).")
def verify(url: str | None, bundle_path: Path | None, log_key: str,
           witness_keys: tuple[str, ...], remember: Path | None) -> None:
    """Recompute the tree and check every checkpoint, signature, cosignature and proof."""
    from audit.cosignature import CosignerKey
    from audit.note import NoteVerifier
    from audit.verify import check_server_proofs, verify_bundle

    verifier = NoteVerifier.from_vkey(log_key)
    witnesses = [CosignerKey.from_vkey(k) for k in witness_keys]
    bundle = _bundle(url, bundle_path)
    base = (url or "").rstrip("/")
    previous = None
    if remember is not None and remember.exists():
        from audit.checkpoint import open_checkpoint

        previous, _ = open_checkpoint(remember.read_text(), verifier)
    report = verify_bundle(bundle, verifier, witnesses, previous)
    if url is not None and report.ok:
        check_server_proofs(bundle, verifier, lambda path: _fetch_json(f"{base}{path}"), report)
    click.echo(f"entries: {report.entries}  checkpoints: {report.checkpoints}  "
               f"cosignatures: {report.cosignatures}  proofs checked: {report.proofs}")
    if report.ok:
        click.echo(f"OK: the log of {report.size} entries verifies "
                   f"(root {report.root.hex()})")
        if remember is not None and report.head is not None:
            write_atomic(remember, report.head)
        return
    for problem in report.problems[:50]:
        click.echo(f"PROBLEM {problem}")
    if len(report.problems) > 50:
        click.echo(f"... and {len(report.problems) - 50} more")
    raise VerificationError(f"the log does not verify: {len(report.problems)} problem(s), "
                            "listed above")


def _bundle(url: str | None, bundle_path: Path | None) -> Bundle:
    from audit.bundle import Bundle, fetch_bundle

    if (url is None) == (bundle_path is None):
        raise UsageError("give exactly one of --url and --bundle")
    if url is not None:
        return fetch_bundle(lambda path: _fetch_json(f"{url.rstrip('/')}{path}"))
    assert bundle_path is not None  # exactly one of the two, checked above
    try:
        return Bundle.from_json(json.loads(bundle_path.read_text()))
    except json.JSONDecodeError as exc:
        raise VerificationError(f"{bundle_path}: not JSON ({exc})") from None


@audit.command()
@url_option
@bundle_option
@log_key_option
def report(url: str | None, bundle_path: Path | None, log_key: str) -> None:
    """Verify the log, then print the transparency report computed from it (JSON), naming the
    signed checkpoint it covers."""
    from audit.note import NoteVerifier
    from audit.records import PublicRecord
    from audit.transparency import transparency_report
    from audit.verify import verify_bundle

    bundle = _bundle(url, bundle_path)
    checked = verify_bundle(bundle, NoteVerifier.from_vkey(log_key))
    if not checked.ok:
        for problem in checked.problems[:50]:
            click.echo(f"PROBLEM {problem}", err=True)
        raise SafecityError("the log does not verify: no report is computed from it")
    entries = sorted(bundle.entries, key=lambda e: e.index)[:checked.size]
    records = [PublicRecord.from_leaf(e.data) for e in entries]
    click.echo(json.dumps(transparency_report(records, checked.root), indent=2))


@audit.command()
@click.argument("entry_id", type=int)
@click.option("--url", help="A running coordinator base URL.")
@click.option("--db", envvar="SAFECITY_AUDIT_DB", help="Or the log's database URL...")
@click.option("--key", "key_path", envvar="SAFECITY_AUDIT_KEY",
              type=click.Path(dir_okay=False, path_type=Path), help="...and its key file.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def prove(entry_id: int, url: str | None, db: str | None, key_path: Path | None,
          out: Path) -> None:
    """Write an offline-checkable receipt for ENTRY_ID (entry, proof, checkpoint)."""
    from audit.bundle import Receipt

    if url is not None:
        receipt = Receipt.from_json(_fetch_json(f"{url.rstrip('/')}/audit/receipts/{entry_id}"))
    elif db is not None and key_path is not None:
        from audit.prove import make_receipt

        with _open_log(db, key_path) as log:
            receipt = make_receipt(log, entry_id)
    else:
        raise UsageError("give --url, or --db and --key")
    write_atomic(out, receipt.dumps())
    click.echo(f"receipt for entry {entry_id} -> {out}")


@audit.command("verify-receipt")
@click.argument("receipt_path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@log_key_option
@witness_option
def verify_receipt_command(receipt_path: Path, log_key: str, witness_keys: tuple[str, ...]
                           ) -> None:
    """Check a receipt offline: signature, cosignatures, inclusion proof, record."""
    from audit.bundle import Receipt
    from audit.cosignature import CosignerKey
    from audit.note import NoteVerifier
    from audit.verify import verify_receipt

    try:
        data = json.loads(receipt_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VerificationError(f"{receipt_path}: not JSON ({exc})") from None
    record, checkpoint = verify_receipt(
        Receipt.from_json(data), NoteVerifier.from_vkey(log_key),
        [CosignerKey.from_vkey(k) for k in witness_keys])
    click.echo(f"OK: entry {data['index']} ({record.action}, {record.time}) is in the log "
               f"of size {checkpoint.size}")


@audit.command()
@db_option
@key_option
@witness_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def serve(db: str, key_path: Path, witness_keys: tuple[str, ...], host: str, port: int) -> None:
    """Serve the log's public routes (the coordinator mounts the same routes)."""
    import uvicorn
    from fastapi import FastAPI

    from audit.cosignature import CosignerKey
    from audit.routes import audit_router
    from kernel.problems import add_problem_handlers

    log = _open_log(db, key_path)
    app = FastAPI(title="safecity audit log")
    add_problem_handlers(app)
    app.include_router(audit_router(log, [CosignerKey.from_vkey(k) for k in witness_keys]))
    uvicorn.run(app, host=host, port=port, log_level="warning")


@audit.command()
@click.option("--url", required=True, help="The log's base URL.")
@log_key_option
@click.option("--witness-key", "witness_key", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="This witness's key file.")
@click.option("--state", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where this witness remembers the last checkpoint it cosigned.")
def cosign(url: str, log_key: str, witness_key: Path, state: Path) -> None:
    """Witness the log: check consistency with what was seen before, cosign, hand it back."""
    import httpx

    from audit.keys import load_witness_key
    from audit.note import NoteVerifier
    from audit.witness import Witness

    base = url.rstrip("/")
    log = NoteVerifier.from_vkey(log_key)
    witness = Witness(load_witness_key(witness_key), [log], state)
    checkpoint = httpx.get(f"{base}/audit/checkpoint", timeout=30).text
    size = int(checkpoint.split("\n")[1])
    seen = witness.seen(log.name)
    proof: list[bytes] = []
    if seen is not None and 0 < seen.size < size:
        from audit.bundle import unb64

        body = _fetch_json(f"{base}/audit/proofs/consistency?first={seen.size}&second={size}")
        # untrusted JSON: a malformed body fails here or in unb64, before anything is cosigned
        proof = [unb64(p, "proof") for p in body["proof"]]  # type: ignore[index]  # JSON of any shape
    cosigned = witness.cosign(checkpoint, proof)
    response = httpx.post(f"{base}/audit/cosignatures", content=cosigned.format(), timeout=30)
    if response.status_code != 200:
        raise SafecityError(f"the log refused the cosignature: {response.text}")
    click.echo(f"cosigned {log.name} at size {size}")


@audit.group()
def witness() -> None:
    """Run a witness: cosign the city log's checkpoints only if they are consistent."""


@witness.command("serve")
@click.option("--key", "key_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="This witness's private key file (`safecity audit keygen NAME --witness`).")
@click.option("--log-key", "log_keys", required=True, multiple=True,
              help="The verifier key of a log this witness follows (repeat for several).")
@click.option("--state", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where this witness remembers the last checkpoint it cosigned per log.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=click.IntRange(0, 65535))
@click.option("--tls-certificate", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Serve HTTPS with this certificate (PEM) and --tls-private-key.")
@click.option("--tls-private-key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def witness_serve(key_path: Path, log_keys: tuple[str, ...], state: Path, host: str, port: int,
                  tls_certificate: Path | None, tls_private_key: Path | None) -> None:
    """Serve c2sp.org/tlog-witness add-checkpoint for the logs named by --log-key."""
    import uvicorn

    from audit.keys import load_witness_key
    from audit.note import NoteVerifier
    from audit.witness import Witness
    from audit.witness_server import witness_app

    if (tls_certificate is None) != (tls_private_key is None):
        raise UsageError("give both --tls-certificate and --tls-private-key, or neither")
    if not state.parent.is_dir():
        raise SafecityError(f"{state.parent}: no such directory for the witness state; "
                            "create it first")
    cosigner = load_witness_key(key_path)
    logs = [NoteVerifier.from_vkey(k) for k in log_keys]
    click.echo(f"witness {cosigner.public.vkey()} follows {', '.join(log.name for log in logs)}",
               err=True)
    uvicorn.run(witness_app(Witness(cosigner, logs, state)), host=host, port=port,
                log_level="warning", ssl_certfile=tls_certificate, ssl_keyfile=tls_private_key)
