"""``safecity coordinator``: set up, add people, serve the API."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from coordinator.config import CoordinatorSettings, load_coordinator_settings
from coordinator.errors import Problem
from coordinator.roles import Role
from kernel.errors import SafecityError, describe
from kernel.json_logs import configure as configure_logging

CONFIG_OPTION = click.option("--config", "config_path",
                             type=click.Path(dir_okay=False, path_type=Path),
                             help="Coordinator TOML config (default: embedded defaults).")


CONFIG_VARIABLE = "SAFECITY_COORDINATOR_CONFIG"  # how `serve` hands its config to its workers

# who runs a command that changes state: named in the audit log (coordinator/console_operator.py)
OPERATOR_OPTION = click.option("--as", "operator_name", envvar="SAFECITY_OPERATOR",
                               metavar="USERNAME",
                               help="The person or service account running this command (an "
                               "active user; default: $SAFECITY_OPERATOR); the audit log names "
                               "it. The first admin alone is created without it (or names itself).")


def settings_from(config_path: Path | None) -> CoordinatorSettings:
    return load_coordinator_settings(config_path)


@click.group()
def coordinator() -> None:
    """The city coordinator: people, warrants, consents, queries, audit log."""


@coordinator.command()
@CONFIG_OPTION
def init(config_path: Path | None) -> None:
    """Create the database schema and the coordinator's keys; print what nodes will pin."""
    from coordinator.service import Coordinator

    svc = Coordinator.open(settings_from(config_path))
    try:
        click.echo(json.dumps({"database": "migrated",
                               "coordinator_key": svc.keys.dispatch.public.text(),
                               "log_key": svc.keys.log.verifier.vkey()}, indent=2))
    finally:
        svc.close()


@coordinator.command("add-user")
@CONFIG_OPTION
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role if r != Role.NODE]))
@click.option("--agency", required=True)
@click.option("--signing-key", help="ed25519:... (judges and DPOs; from `safecity warrant keygen`)")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@OPERATOR_OPTION
def add_user(config_path: Path | None, username: str, role: str, agency: str,
             signing_key: str | None, password_stdin: bool, operator_name: str | None) -> None:
    """Add a person (the first admin is created this way, on the server, without --as)."""
    from coordinator.console_operator import first_admin, operator
    from coordinator.roles import Permission
    from coordinator.service import Coordinator
    from coordinator.services.requests import NewUser
    from coordinator.services.users import create_user

    password = (sys.stdin.readline().rstrip("\n") if password_stdin
                else click.prompt("Password", hide_input=True, confirmation_prompt=True))
    try:
        body = NewUser(username=username, role=Role(role), agency=agency, password=password,
                       signing_key=signing_key)
    except ValidationError as exc:
        raise SafecityError(f"invalid user: {describe(exc)}") from None
    svc = Coordinator.open(settings_from(config_path))
    try:
        first = (first_admin(svc, username, Role(role), agency)
                 if operator_name in (None, username) else None)
        by = first or operator(svc, operator_name, Permission.USER_MANAGE)
        create_user(svc, body, by.actor)
    except Problem as exc:
        raise SafecityError(exc.detail) from None
    finally:
        svc.close()
    click.echo(f"added {role} {username}")


@coordinator.group()
def pins() -> None:
    """Change the judge, DPO and witness keys the nodes pin (signed by the pinned quorum)."""


def _changes(add: tuple[str, ...], retire: tuple[str, ...]) -> list[Any]:
    from contract.pins import ROLES, PinChange

    by_role: dict[str, dict[str, list[str]]] = {}
    for verb, items in (("add", add), ("retire", retire)):
        for item in items:
            role, _, key = item.partition(":")
            if role not in ROLES or not key:
                raise SafecityError(f"--{verb} {item[:40]}: expected ROLE:KEY with ROLE one of "
                                    f"{', '.join(ROLES)}")
            by_role.setdefault(role, {"add": [], "retire": []})[verb].append(key)
    try:
        return [PinChange.model_validate({"role": role, **keys}) for role, keys in by_role.items()]
    except ValidationError as exc:
        raise SafecityError(f"invalid change: {describe(exc)}") from None


def _pins_call(config_path: Path | None, action: Callable[[Any, Any], Any],
               changes_state: bool, operator_name: str | None = None) -> None:
    """Run ``action`` on an open coordinator with the operator ``--as`` names (the admin at the
    server's console; None for an action that changes nothing)."""
    from coordinator.console_operator import operator
    from coordinator.roles import Permission
    from coordinator.service import Coordinator

    svc = Coordinator.open(settings_from(config_path))
    try:
        who = operator(svc, operator_name, Permission.PINS_PROPOSE) if changes_state else None
        click.echo(json.dumps(action(svc, who), indent=2))
    except Problem as exc:
        raise SafecityError(exc.detail) from None
    finally:
        svc.close()


@pins.command("propose")
@CONFIG_OPTION
@click.option("--add", multiple=True, help="ROLE:KEY, e.g. judge:ed25519:... (repeatable)")
@click.option("--retire", multiple=True, help="ROLE:KEY to stop trusting (repeatable)")
@click.option("--reason", required=True, help="A short code, e.g. judge-appointed.")
@OPERATOR_OPTION
def pins_propose(config_path: Path | None, add: tuple[str, ...], retire: tuple[str, ...],
                 reason: str, operator_name: str | None) -> None:
    """Propose the next change; pinned judges and DPOs then sign its payload."""
    from coordinator.services import pins as pinned

    changes = _changes(add, retire)
    if not changes:
        raise SafecityError("name at least one --add or --retire")
    _pins_call(config_path, lambda svc, who: pinned.view(svc, pinned.propose(
        svc, who.actor, who.username, changes, reason)), True, operator_name)


@pins.command("dispatch")
@CONFIG_OPTION
@click.argument("sequence", type=int)
@OPERATOR_OPTION
def pins_dispatch(config_path: Path | None, sequence: int, operator_name: str | None) -> None:
    """Log a change the quorum signed and send it to every node (again: to those that have
    not acknowledged it)."""
    from coordinator.services import pins as pinned

    _pins_call(config_path, lambda svc, who: pinned.view(svc, pinned.dispatch(
        svc, who.actor, who.username, sequence)), True, operator_name)


@pins.command("show")
@CONFIG_OPTION
@click.argument("sequence", type=int)
def pins_show(config_path: Path | None, sequence: int) -> None:
    """One change: its payload, signatures and each node's acknowledgement."""
    from coordinator.services import pins as pinned

    def show(svc: Any, _: Any) -> Any:
        pinned.collect_acks(svc)
        return pinned.view(svc, pinned.one(svc, sequence))

    _pins_call(config_path, show, False)


@coordinator.command()
@CONFIG_OPTION
def serve(config_path: Path | None) -> None:
    """Serve the API (OpenAPI docs at /docs) until stopped: `workers` processes, over HTTPS when
    the config names a TLS certificate and key; Prometheus metrics on `metrics_address`."""
    import os
    import tempfile

    import uvicorn

    settings = settings_from(config_path)
    configure_logging("coordinator-api", "INFO", settings.log_format)
    if (settings.tls_certificate is None) != (settings.tls_private_key is None):
        raise SafecityError("set both tls_certificate and tls_private_key, or neither")
    if settings.city_ca is not None:
        from privacy.pki import check_ca

        try:
            check_ca(settings.city_ca.read_text())
        except (OSError, ValueError) as exc:
            raise SafecityError(f"city_ca {settings.city_ca}: {exc}") from None
    from coordinator.app import create_app
    from coordinator.metrics import metrics_listener
    from coordinator.service import Coordinator

    svc = Coordinator.open(settings)  # migrate once, and fail now if anything is missing
    if config_path is not None:
        os.environ[CONFIG_VARIABLE] = str(config_path.resolve())
    several = settings.workers > 1
    try:
        with tempfile.TemporaryDirectory(prefix="safecity-metrics-") as shared:
            if several:  # each worker process counts into files here; the listener sums them
                os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
            try:
                listener = metrics_listener(svc, settings.metrics_address,
                                            Path(shared) if several else None)
            except OSError as exc:
                raise SafecityError(f"metrics_address {settings.metrics_address}: "
                                    f"{exc.strerror}; name a free host:port") from None
            # requests are logged by the app (route templates, request ids), not by uvicorn;
            # the control room's and wall's event streams never end by themselves, so a stop
            # (SIGTERM) waits at most 5 s for open browsers instead of until they leave
            with listener:
                uvicorn.run("coordinator.app:from_environment" if several else create_app(svc),
                            factory=several, host=settings.host, port=settings.port,
                            workers=settings.workers, log_level="info", log_config=None,
                            access_log=False, proxy_headers=False,
                            ssl_certfile=settings.tls_certificate,
                            ssl_keyfile=settings.tls_private_key,
                            timeout_graceful_shutdown=5)
    finally:
        svc.close()


@coordinator.command()
@CONFIG_OPTION
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--beat", is_flag=True, help="Also schedule the housekeeping jobs (one host "
              "only; a city with several workers runs `coordinator beat` once instead).")
def worker(config_path: Path | None, loglevel: str, beat: bool) -> None:
    """Take the nodes' events into the alert queue, deliver webhooks and MQTT messages and run
    the housekeeping jobs, until stopped."""
    from datetime import UTC, datetime
    from functools import cache

    from celery import Celery

    from contract.tasks import EVENTS_QUEUE, LIVE_QUEUE, WEBHOOKS_QUEUE
    from coordinator.device_queue import device_key, seal
    from coordinator.metrics import WorkerMetrics
    from coordinator.mqtt import Publisher
    from coordinator.mqtt_status import ConnectionReport
    from coordinator.service import Coordinator
    from coordinator.worker import DEVICE_TASK, worker_app

    settings = settings_from(config_path)
    configure_logging("coordinator-worker", loglevel, settings.log_format)
    Coordinator.open(settings).close()  # migrate, and fail now if anything is missing
    service = cache(lambda: Coordinator.open(settings))
    metrics = WorkerMetrics()
    # connected at start, so the availability topic says online before the first alert; it
    # also listens to the city's devices, and queues an SOS press or a threshold crossing for
    # the intake (a sender of its own: listening starts before the worker's app exists)
    # the task believes only what this listener sealed (``coordinator.device_queue``)
    sender = Celery("safecity-coordinator-devices", broker=settings.broker)
    key = device_key(service().keys)

    def heard(topic: str, payload: bytes) -> None:
        sealed = seal(key, topic, payload.decode(), datetime.now(UTC))
        sender.send_task(DEVICE_TASK, args=[sealed], queue=EVENTS_QUEUE)

    publisher = Publisher(settings.mqtt, settings.iot, on_device=heard) \
        if settings.mqtt is not None else None
    # its state goes to the database, for the control room's status line
    report = ConnectionReport(publisher, service, settings.mqtt.report_seconds).start() \
        if publisher is not None and settings.mqtt is not None else None
    app = worker_app(settings, service, metrics, publisher)
    queues = ",".join((EVENTS_QUEUE, WEBHOOKS_QUEUE, LIVE_QUEUE))
    try:
        with _health(settings, app, service, metrics):
            app.worker_main(["worker", "--pool=solo", f"--queues={queues}",
                             "--hostname=coordinator@%h", f"--loglevel={loglevel}",
                             "--without-gossip", "--without-mingle", "--without-heartbeat",
                             *_beat_options(settings, beat)])
    finally:
        if report is not None:
            report.stop()


def _beat_options(settings: CoordinatorSettings, beat: bool) -> list[str]:
    if not beat:
        return []
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ["--beat", f"--schedule={settings.data_dir / 'beat-schedule'}"]


@coordinator.command()
@CONFIG_OPTION
@click.option("--loglevel", default="INFO", show_default=True)
def beat(config_path: Path | None, loglevel: str) -> None:
    """Schedule the housekeeping jobs (expired warrants, alert retention, the public report)
    every housekeeping_seconds for the workers, until stopped. Run one per city."""
    from functools import cache

    from coordinator.service import Coordinator
    from coordinator.worker import worker_app

    settings = settings_from(config_path)
    configure_logging("coordinator-beat", loglevel, settings.log_format)
    app = worker_app(settings, cache(lambda: Coordinator.open(settings)))  # beat runs no task
    with _beat_health(settings, app):
        app.start(["beat", f"--loglevel={loglevel}",
                   *_beat_options(settings, True)[1:]])


def _broker_probe(app: Any) -> Callable[[], None]:
    def broker() -> None:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
    return broker


def _beat_health(settings: CoordinatorSettings, app: Any) -> AbstractContextManager[object]:
    """The beat's /healthz, /readyz (the broker it sends to) and /metrics, when configured."""
    if settings.beat_health_port is None:
        return nullcontext()
    from celery.signals import after_task_publish

    from coordinator.metrics import BeatMetrics
    from kernel.health_server import HealthServer, probes

    metrics = BeatMetrics()
    after_task_publish.connect(metrics.sent, weak=False)
    return HealthServer(settings.health_host, settings.beat_health_port, metrics.registry,
                        probes(broker=_broker_probe(app)))


def _health(settings: CoordinatorSettings, app: Any, service: Callable[[], Any],
            metrics: Any) -> AbstractContextManager[object]:
    """The worker's /healthz, /readyz (broker and database) and /metrics, when configured."""
    if settings.worker_health_port is None:
        return nullcontext()
    from sqlalchemy import text

    from kernel.health_server import HealthServer, probes

    def database() -> None:
        with service().session() as session:
            session.execute(text("SELECT 1"))

    metrics.watch(service())
    return HealthServer(settings.health_host, settings.worker_health_port, metrics.registry,
                        probes(broker=_broker_probe(app), database=database))
