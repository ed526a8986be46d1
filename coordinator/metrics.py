"""The coordinator's Prometheus metrics. Counters and histograms are updated as requests run;
the rest is read from the database, the audit log and the broker when Prometheus scrapes.
Labels name routes, queues and nodes, never a person, a plate or a case."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract.tasks import EVENTS_QUEUE, LIVE_QUEUE, WEBHOOKS_QUEUE, queue_name
from kernel.json_logs import REQUEST_ID

if TYPE_CHECKING:
    from coordinator.mqtt import Publisher
    from coordinator.service import Coordinator
    from kernel.health_server import HealthServer

log = logging.getLogger(__name__)
requests_log = logging.getLogger("safecity.requests")
REQUEST_ID_FORM = re.compile(r"[A-Za-z0-9._-]{1,64}")
COORDINATOR_QUEUES = (EVENTS_QUEUE, LIVE_QUEUE, WEBHOOKS_QUEUE)


class CoordinatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("safecity_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.request_seconds = Histogram("safecity_http_request_seconds",
                                         "time to answer an HTTP request", ["route"],
                                         registry=self.registry)
        self.query_answer_seconds = Histogram(
            "safecity_query_answer_seconds", "from dispatch to a node's answer collected",
            ["kind"], buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry)
        self.audit_appends = Counter("safecity_audit_appends", "audit entries appended",
                                     registry=self.registry)

    def watch(self, svc: Coordinator) -> None:
        """Add the gauges read at scrape time from ``svc``."""
        self.registry.register(StateCollector(svc))


class WorkerMetrics:
    """What `coordinator worker` serves at /metrics: the batches it took and the state gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.batches = Counter("safecity_worker_messages", "messages taken off the broker",
                               ["task", "outcome"], registry=self.registry)
        self.refused = Counter("safecity_worker_events_refused",
                               "node events refused at intake, past the node's rate",
                               registry=self.registry)

    def watch(self, svc: Coordinator) -> None:
        self.registry.register(StateCollector(svc))

    def watch_mqtt(self, publisher: Publisher) -> None:
        self.registry.register(MqttCollector(publisher))


class MqttCollector(Collector):
    """The worker's MQTT connection: up or not, and how many outages it has had (one per
    outage, however many deliveries it failed), so an alert rule can fire on either; and the
    city devices' messages it refused."""

    def __init__(self, publisher: Publisher):
        self.publisher = publisher

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("safecity_mqtt_connected",
                               "1 while the worker is connected to the MQTT broker")
        up.add_metric([], 1.0 if self.publisher.connected.is_set() else 0.0)
        yield up
        outages = CounterMetricFamily("safecity_mqtt_outages",
                                      "times the MQTT broker became unreachable or refused "
                                      "the worker (wrong credentials included)")
        outages.add_metric([], float(self.publisher.outages))
        yield outages
        refused = CounterMetricFamily("safecity_iot_refused",
                                      "city device messages refused (unknown device, too "
                                      "large, not the schema, dated ahead; each logged)")
        refused.add_metric([], float(self.publisher.refused))
        yield refused


class BeatMetrics:
    """What `coordinator beat` serves at /metrics: the jobs it sent the workers, and when it
    last did (alert on that falling behind ``housekeeping_seconds``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.scheduled = Counter("safecity_beat_scheduled", "jobs sent to the workers",
                                 ["task"], registry=self.registry)
        self.last = Gauge("safecity_beat_last_scheduled_timestamp_seconds",
                          "when the beat last sent a job (Unix time)", registry=self.registry)

    def sent(self, sender: object = None, **_: object) -> None:
        """Celery's ``after_task_publish`` receiver (the sender is the task's name)."""
        self.scheduled.labels(str(sender)).inc()
        self.last.set_to_current_time()


def metrics_listener(svc: Coordinator, address: str, shared: Path | None = None) -> HealthServer:
    """The API's /metrics (with /healthz and /readyz) on ``address`` (``metrics_address``), a
    listener of its own apart from the public API port, loopback by default: operational
    figures are for the city's Prometheus, not for anyone who can reach the portal.

    One listener per `coordinator serve`, however many API worker processes it starts: with
    several, each counts into files in ``shared`` (prometheus_client's multiprocess mode,
    ``PROMETHEUS_MULTIPROC_DIR``) and the listener sums them; the state gauges are read from
    the database and broker at scrape time, once."""
    from coordinator.services.health import checks
    from kernel.health_server import HealthServer

    registry = svc.metrics.registry
    if shared is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(shared))
        registry.register(StateCollector(svc))
    host, port = address.rsplit(":", 1)
    return HealthServer(host.strip("[]"), int(port), registry, lambda: checks(svc))


class RequestTelemetry:
    """ASGI middleware: each request gets an id (the caller's ``X-Request-ID`` if it is a plain
    token, else a new one; echoed in the answer and on every log line it causes), and is
    counted, timed and logged under its route's template, so no id or name from a path ever
    becomes a label or a log field."""

    def __init__(self, app: ASGIApp, metrics: CoordinatorMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        offered = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if REQUEST_ID_FORM.fullmatch(offered) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            seconds = time.perf_counter() - started
            self.metrics.requests.labels(scope["method"], route, str(status[0])).inc()
            self.metrics.request_seconds.labels(route).observe(seconds)
            requests_log.info("%s %s %d %.1f ms", scope["method"], route, status[0],
                              seconds * 1000)
            REQUEST_ID.reset(token)


class StateCollector(Collector):
    def __init__(self, svc: Coordinator):
        self.svc = svc

    def collect(self) -> Iterator[Metric]:
        size = GaugeMetricFamily("safecity_audit_log_entries", "entries in the audit log")
        size.add_metric([], self.svc.audit.size())
        yield size
        yield from self._nodes()
        yield self._queues()
        yield self._rounds()

    def _nodes(self) -> Iterator[Metric]:
        from coordinator.db import AggregateNode, Node

        nodes = GaugeMetricFamily("safecity_nodes", "enrolled nodes", labels=["state"])
        left = GaugeMetricFamily("safecity_node_epsilon_left",
                                 "privacy budget a node reported left with its last "
                                 "aggregate answer", labels=["node"])
        with self.svc.session() as session:
            enrolled = session.scalars(select(Node)).all()
            for state in ("active", "inactive"):
                nodes.add_metric([state], sum((n.active if state == "active" else not n.active)
                                              for n in enrolled))
            answers = session.scalars(select(AggregateNode).where(
                AggregateNode.status == "answered").order_by(AggregateNode.answered_at)).all()
            reported = {a.node_id: a.result for a in answers if a.result}
        for node_id, result in sorted(reported.items()):
            value = result.get("result", {}).get("epsilon_left")
            if value is not None:
                left.add_metric([node_id], float(value))
        yield nodes
        yield left

    def _queues(self) -> Metric:
        from coordinator.db import Node

        depth = GaugeMetricFamily("safecity_queue_depth", "messages waiting in a broker queue",
                                  labels=["queue"])
        with self.svc.session() as session:
            names = [queue_name(n.node_id) for n in session.scalars(select(Node)).all()]
        try:
            with self.svc.dispatcher.app.connection_for_read() as connection:
                channel = connection.default_channel
                for name in (*COORDINATOR_QUEUES, *names):
                    try:
                        depth.add_metric([name], channel.queue_declare(
                            name, passive=True).message_count)
                    except Exception:
                        channel = connection.channel()
        except Exception as exc:
            log.warning("queue depths unavailable: %s", type(exc).__name__)
        return depth

    def _rounds(self) -> Metric:
        rounds = GaugeMetricFamily("safecity_fl_round_seconds",
                                   "seconds each round of the newest training runs took",
                                   labels=["run", "round"])
        folder = self.svc.settings.trainings_dir
        records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)[-5:] \
            if folder.is_dir() else []
        for path in records:
            if path.name.endswith(".model.json"):
                continue
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            for entry in record.get("history", [])[1:]:
                if "seconds" in entry:
                    rounds.add_metric([str(record.get("run")), str(entry["round"])],
                                      float(entry["seconds"]))
        return rounds
