"""The ``safecity`` command.

Each package contributes its own command group through the ``safecity.commands`` entry point, so
the node never imports the coordinator's code (docs/architecture.md, "Layers"); this module hosts
the root group and the node's own commands.
"""

from __future__ import annotations

import errno
import json
import re
import sys
from collections.abc import Callable
from contextlib import closing
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from pydantic import ValidationError

from kernel.connection_failures import explain
from kernel.errors import SafecityError, UsageError, describe
from nodes.onvif.cli import cameras
from privacy.cli import model_dir_option
from privacy.redaction.policy import RedactionPolicy, Shape, Style


class SafecityGroup(click.Group):
    """Root group: loads plugin groups lazily and turns safecity errors into one-line exits."""

    def _plugins(self) -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group="safecity.commands")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in self._plugins():
            command = self._plugins()[name].load()
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SafecityError as exc:
            fail(ctx, str(exc), exc.exit_code)
        except Exception as exc:
            message = environment_failure(exc)
            if message is None:
                raise
            fail(ctx, message)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def fail(ctx: click.Context, message: str, code: int = 1) -> NoReturn:
    """The one way a command ends on an error: one line on stderr, a non-zero exit."""
    click.echo(f"Error: {message}", err=True)
    ctx.exit(code)


def environment_failure(exc: BaseException) -> str | None:
    """A one-line message for failures of the machine rather than of the program (a full
    disk, a file that cannot be opened, a database that fails); None for anything else."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError) and not isinstance(exc.orig, sqlite3.Error):
        # a database server (the coordinator's database_url) that cannot be reached or used
        first = " ".join(str(exc.orig).split())
        return explain(exc, "database_url") or f"database failed ({first}): check database_url"
    if isinstance(exc, DBAPIError):
        exc = exc.orig if isinstance(exc.orig, BaseException) else exc
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"No space left on device{where}: the disk is full; nothing half-written " \
                   "was kept, free some space and run again"
        return f"{exc.strerror or exc}{where}"
    if isinstance(exc, sqlite3.DatabaseError):
        code = getattr(exc, "sqlite_errorname", "")
        if code in ("SQLITE_FULL", "SQLITE_IOERR_SHMSIZE"):  # SHMSIZE: the -shm file cannot grow
            return "No space left on device: a local database cannot grow, the disk is full; " \
                   "its last transaction was rolled back"
        return f"local database failed: {exc} [{code}] (is the disk full or the folder " \
               "read-only?); its last transaction was rolled back"
    return None


@click.group(cls=SafecityGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="safecity")
def main() -> None:
    """safecity: privacy-first, federated video analytics for safe cities."""


Decorated = TypeVar("Decorated", bound=Callable[..., Any])


def policy_options(command: Decorated) -> Decorated:
    options = [
        click.option("--style", type=click.Choice([s.value for s in Style]), default=None,
                     help="How regions are hidden (default: fill, the only style networks "
                          "cannot undo)."),
        click.option("--shape", type=click.Choice([s.value for s in Shape]), default=None,
                     help="Outline of each hidden region (default: rectangle, which covers the "
                          "whole box; ellipse leaves its corners visible)."),
        click.option("--margin", type=float, default=None,
                     help="Fraction of a box added on each side."),
        click.option("--detect-every", type=int, default=None,
                     help="Run the detectors on one frame in N."),
        click.option("--persist", "persist_seconds", type=float, default=None,
                     help="Seconds a region stays covered after its last detection."),
        click.option("--no-faces", is_flag=True, help="Do not redact faces."),
        click.option("--no-plates", is_flag=True, help="Do not redact licence plates."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def build_policy(base: RedactionPolicy, no_faces: bool, no_plates: bool,
                 **values: object) -> RedactionPolicy:
    chosen = {k: v for k, v in values.items() if v is not None}
    if no_faces:
        chosen["faces"] = False
    if no_plates:
        chosen["plates"] = False
    try:
        return RedactionPolicy.model_validate(base.model_dump() | chosen)
    except ValidationError as exc:
        raise UsageError(describe(exc)) from None


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.argument("output_path", metavar="OUTPUT", type=click.Path(path_type=Path))
@click.option("--boxes", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every hidden region (frame, kind, box, score; no pixels) as JSON lines.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@model_dir_option
@policy_options
def redact(input_path: Path, output_path: Path, boxes: Path | None, quiet: bool,
           model_dir: Path, no_faces: bool, no_plates: bool, **values: object) -> None:
    """Blur faces and licence plates in a video or image file.

    The output is written under a temporary name and renamed only when complete; the audio track
    of a video is kept.
    """
    from nodes.frame_bar import FrameBar
    from nodes.media import is_image
    from nodes.pipeline import check_output_path, redact_image_file, redact_video_file
    from privacy.redaction.engine import Detectors

    check_output_path(input_path, output_path)
    policy = build_policy(RedactionPolicy(), no_faces, no_plates, **values)
    detectors = Detectors(policy, model_dir)
    if is_image(input_path):
        summary = redact_image_file(input_path, output_path, policy, detectors, boxes)
    else:
        with FrameBar(input_path.name, quiet) as bar:
            summary = redact_video_file(input_path, output_path, policy, detectors, boxes,
                                        progress=bar)
    click.echo(json.dumps({"output": str(output_path), **summary.as_dict()}))


@main.group()
def node() -> None:
    """Run a camera-site node."""


node.add_command(cameras)


@node.command("run")
@click.option("--config", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Node TOML config.")
def node_run(config_path: Path) -> None:
    """Redact every configured camera; exit 1 if any camera failed (the others still run).

    A camera that cannot be reached (down, or its file not there yet) is retried with back-off
    until it can be, its health `down` meanwhile; the node keeps running the others.
    """
    from kernel.json_logs import configure
    from nodes.config import load_settings
    from nodes.node import run_node

    settings = load_settings(config_path)
    configure("node-run", "INFO", settings.log_format)
    reports = run_node(settings)
    for report in reports:
        click.echo(json.dumps(report.__dict__))
    failed = [r.camera for r in reports if r.status != "ok"]
    if failed:
        raise SafecityError(f"cameras failed: {', '.join(failed)}")


_CONFIG = click.option("--config", "config_path", required=True,
                       type=click.Path(dir_okay=False, path_type=Path), help="Node TOML config.")


@node.command("keys")
@_CONFIG
@click.option("--node-id", default=None, metavar="ID",
              help="The id the city enrols this node under (default: SITE_ID-node; a second "
              "node at the same site needs its own).")
def node_keys(config_path: Path, node_id: str | None) -> None:
    """Print the node's enrolment document: its id, site, cameras with their notices and
    placements, and public keys (created on first use). The city admin enrols it as printed
    (`POST /nodes`, or the admin page)."""
    from nodes.config import load_settings
    from nodes.enrolment_request import default_node_id, enrolment_request

    settings = load_settings(config_path)
    chosen = node_id or default_node_id(settings)
    if re.fullmatch(r"[a-z0-9][a-z0-9_.:-]{0,127}", chosen) is None:
        raise UsageError(f"--node-id {chosen[:40]!r}: lower-case letters, digits and "
                         "'_', '.', ':', '-' (at most 128), starting with a letter or digit")
    click.echo(json.dumps(enrolment_request(settings, chosen), indent=2))


@node.command("ingest")
@_CONFIG
@click.argument("clip", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--device", required=True, help="The body-worn camera's id ([[body_cameras]]).")
@click.option("--recorded-at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z"]), default=None,
              help="When the clip was recorded, with its offset (default: the file's time).")
@click.option("--badge", default="", help="The officer's badge number.")
@click.option("--case", "case_number", default="", help="The case the clip belongs to.")
@click.option("--note", default="", help="What the officer says about the clip.")
def node_ingest(config_path: Path, clip: Path, device: str, recorded_at: Any, badge: str,
                case_number: str, note: str) -> None:
    """Take a body-worn camera's clip at the site: redacted, the original vaulted encrypted,
    its SHA-256, device and the officer's statement logged as chain of custody."""
    from nodes.bodycam_claim import OfficerStatement
    from nodes.bodycam_ingest import clip_intake
    from nodes.config import load_settings
    from nodes.events import EventStore
    from nodes.node import live_views, outboxes

    try:
        officer = OfficerStatement(badge=badge, case=case_number, note=note)
    except ValidationError as exc:
        raise UsageError(describe(exc)) from None
    settings = load_settings(config_path)
    # the clip's event and evidence are sent before the command ends (if the broker takes them)
    with closing(EventStore(settings.stores.events)) as events, live_views(settings) as live, \
            outboxes(settings, events), clip_intake(settings, live, events) as intake:
        click.echo(json.dumps(intake.ingest(clip, device, recorded_at, officer)))


@node.command("uploads")
@_CONFIG
def node_uploads(config_path: Path) -> None:
    """Take body-worn cameras' signed clips over HTTP (POST /bodycam/clips on bodycam_port)."""
    from kernel.json_logs import configure
    from nodes.bodycam_ingest import clip_intake
    from nodes.bodycam_server import UploadServer
    from nodes.config import load_settings
    from nodes.events import EventStore
    from nodes.node import live_views, outboxes

    settings = load_settings(config_path)
    if settings.bodycam_port is None:
        raise UsageError("bodycam_port is not set in the node's config")
    configure("node-uploads", "INFO", settings.log_format)
    with closing(EventStore(settings.stores.events)) as events, live_views(settings) as live, \
            outboxes(settings, events), clip_intake(settings, live, events) as intake:
        server = UploadServer(intake, settings.bodycam_host, settings.bodycam_port)
        click.echo(json.dumps({"uploads": f"http://{settings.bodycam_host}:{server.port}"
                                          "/bodycam/clips"}), nl=True)
        server.serve_forever()


@node.command("enrol")
@_CONFIG
@click.argument("document", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def node_enrol(config_path: Path, document: Path) -> None:
    """Pin the keys in an enrolment document from the coordinator (judges, DPO, coordinator,
    audit log); the node trusts these and no others."""
    from nodes.config import load_settings
    from nodes.enrolment import parse_enrolment, save_enrolment

    settings = load_settings(config_path)
    enrolment = parse_enrolment(document.read_text(), str(document))
    if enrolment.site_id != settings.site_id:
        raise SafecityError(f"the enrolment is for site {enrolment.site_id}, this node "
                                   f"is {settings.site_id}")
    path = save_enrolment(settings.data_dir, enrolment)
    click.echo(f"enrolled as {enrolment.node_id}: {len(enrolment.judge_keys)} judge key(s), "
               f"{len(enrolment.dpo_keys)} DPO key(s) pinned in {path}")


@node.command("supernode")
@_CONFIG
@click.option("--superlink", help="host:port of the city's SuperLink (default: flower_superlink).")
@click.option("--ca", "ca_certificate", type=click.Path(dir_okay=False, path_type=Path),
              help="The city CA certificate (default: flower_ca).")
@click.option("--port", type=int, default=9094, show_default=True,
              help="Local port for the SuperNode's ClientApp runtime API.")
@click.option("--node-config", "extra", default="",
              help="Extra task options as JSON, e.g. '{\"partition-id\": 0}' (benchmarks).")
def node_supernode(config_path: Path, superlink: str | None, ca_certificate: Path | None,
                   port: int, extra: str) -> None:
    """Run this site's Flower SuperNode (federated learning) until stopped."""
    import os

    from nodes.config import load_settings
    from nodes.learning.supernode import supernode_command, supernode_environment

    try:
        options = json.loads(extra) if extra else {}
    except ValueError:
        raise SafecityError("--node-config must be a JSON object") from None
    if not isinstance(options, dict):
        raise SafecityError("--node-config must be a JSON object")
    command = supernode_command(load_settings(config_path), config_path, superlink,
                                ca_certificate, options, port)
    os.execve(command[0], command, supernode_environment())


@node.command("install-model")
@_CONFIG
@click.argument("package", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def node_install_model(config_path: Path, package: Path) -> None:
    """Install a model the federation trained (a signed package from `safecity fl start`);
    its signature is checked against the coordinator key pinned at enrolment."""
    from nodes.config import load_settings
    from nodes.inbox import Inbox

    try:
        message = json.loads(package.read_text())
    except ValueError:
        raise SafecityError(f"{package}: not JSON") from None
    inbox = Inbox.open(load_settings(config_path))
    try:
        answer = inbox.models.answer(message)
    finally:
        inbox.close()
    if not answer["installed"]:
        raise SafecityError(f"model refused: {answer['detail']}")
    click.echo(json.dumps(answer))


@node.command("worker")
@_CONFIG
@click.option("--loglevel", default="INFO", show_default=True)
def node_worker(config_path: Path, loglevel: str) -> None:
    """Take watchlist queries from this node's own queue until stopped."""
    from functools import cache

    from kernel.json_logs import configure
    from nodes.config import load_settings
    from nodes.enrolment import load_enrolment
    from nodes.export_reports import send_reports
    from nodes.health import broker_check, serving
    from nodes.inbox import Inbox
    from nodes.inbox.worker import worker_app

    settings = load_settings(config_path)
    configure("node-worker", loglevel, settings.log_format)
    enrolment = load_enrolment(settings.data_dir)
    Inbox.open(settings).close()  # fail now, with a clear message, if anything is missing
    send_reports(settings)  # evidence exports reported while the broker was away go now
    app = worker_app(settings, cache(lambda: Inbox.open(settings)))

    def connect() -> None:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)

    with serving(settings, settings.worker_health_port, broker_check(connect)):
        app.worker_main(["worker", "--pool=solo", f"--queues={enrolment.queue}",
                         f"--hostname={enrolment.node_id}@%h", f"--loglevel={loglevel}",
                         "--without-gossip", "--without-mingle", "--without-heartbeat"])
