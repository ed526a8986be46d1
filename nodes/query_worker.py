"""The node's query worker: takes watchlist queries from its own queue, checks them itself,
searches inside the scope only, logs what it did and answers with the minimum, signed.

Messages are acknowledged only after the answer is stored (``acks_late``), and a redelivered
message gets the stored answer again, so a broker or worker that stops mid-query loses nothing
and never searches twice.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery
from pydantic import ValidationError

from audit.keys import load_log_key
from audit.log import AuditLog
from audit.records import Action, Actor, Event, LegalBasis, Scope, rfc3339, under
from audit.records import Window as LogWindow
from contract.aggregates import AGGREGATE_TASK
from contract.models import MODEL_TASK
from contract.pins import PIN_TASK, PinAck, PinRefused, SignedPinAck, pinned_sha256
from contract.queries import (
    QUERY_TASK,
    REVOCATION_TASK,
    Hit,
    QueryResult,
    SealedResult,
    SignedQuery,
    SignedResult,
    SignedRevocation,
    Status,
    result_info,
)
from contract.warrants import Kind, Refusal, WarrantRefused
from kernel.errors import ConfigError, VerificationError
from kernel.json_logs import QUERY_ID
from nodes import city_ca
from nodes.aggregate_answers import AggregateAnswerer
from nodes.config import NodeSettings
from nodes.enrolment import Enrolment, enrolment_file, load_enrolment, save_enrolment
from nodes.face_search import BadReference, describe_reference
from nodes.face_search import search as face_search
from nodes.identity import NodeIdentity, load_identity
from nodes.pin_updates import apply_update, parse_update
from nodes.query_checks import (
    Checked,
    check_message,
    check_query,
    check_revocation,
    request_sha256,
)
from nodes.query_ledger import QueryLedger, Start
from nodes.sightings import SightingStore
from nodes.vault.site import OpenVault, open_vault
from nodes.witnessed_log import LogHead
from privacy import model_registry
from privacy.face_match import FaceMatcher
from privacy.redaction.faces import CenterFaceDetector
from privacy.sealing import parse_public, seal

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class QueryService:
    """One per worker process: the node's keys, pins, stores and audit log."""

    def __init__(self, settings: NodeSettings, enrolment: Enrolment, identity: NodeIdentity,
                 audit: AuditLog, clock: Clock = _now):
        self.settings = settings
        self.enrolment = enrolment
        self.identity = identity
        self.audit = audit
        self.clock = clock
        self.sightings = SightingStore(settings.data_dir / "sightings.sqlite", identity.plate_key)
        self.ledger = QueryLedger(settings.data_dir / "query-ledger.sqlite")
        self.actor = Actor(pseudonym=enrolment.node_id, role="node", agency=enrolment.site_id)
        self.log_head = LogHead(settings.data_dir, enrolment.log().name)
        self._faces: tuple[CenterFaceDetector, FaceMatcher] | None = None
        self._opened: OpenVault | None = None
        self._aggregates: AggregateAnswerer | None = None
        self._pins_stamp = self._enrolment_stamp()

    def _enrolment_stamp(self) -> tuple[int, int]:
        stat = enrolment_file(self.settings.data_dir).stat()
        return stat.st_mtime_ns, stat.st_size

    def refresh(self) -> None:
        """Reload the enrolment if a pin update (applied by this or another process of the
        node) rewrote it, so every message is checked against the keys pinned now."""
        stamp = self._enrolment_stamp()
        if stamp != self._pins_stamp:
            self.enrolment, self._pins_stamp = load_enrolment(self.settings.data_dir), stamp
            if self._aggregates is not None:
                self._aggregates.close()
                self._aggregates = None

    @classmethod
    def open(cls, settings: NodeSettings, clock: Clock = _now) -> QueryService:
        enrolment = load_enrolment(settings.data_dir)
        if not settings.node_key_file.exists():
            raise ConfigError(f"{settings.node_key_file}: no node log key; run "
                              "`safecity vault init` first")
        audit = AuditLog(settings.audit_url, load_log_key(settings.node_key_file))
        return cls(settings, enrolment, load_identity(settings.keys_dir), audit, clock)

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()
        if self._aggregates is not None:
            self._aggregates.close()
        self.sightings.close()
        self.ledger.close()
        self.audit.close()

    # -- queries -----------------------------------------------------------------------------

    def answer(self, message: Any) -> dict[str, Any]:
        """Answer one query message (already decoded from JSON) with a signed result."""
        QUERY_ID.set(_query_id(message)[:64])
        now = self.clock()
        try:
            query = SignedQuery.model_validate(message)
        except ValidationError as exc:
            query_id = _query_id(message)
            detail = f"not a query message: {exc.errors()[0]['msg']}"
            return self._refuse(None, query_id, WarrantRefused(Refusal.BAD_MESSAGE, detail), now)
        request = query.request
        try:
            check_message(query, self.enrolment, now,
                          timedelta(seconds=self.settings.query_max_age_seconds))
        except WarrantRefused as refusal:  # not from our coordinator: nothing is recorded
            return self._refuse(query, request.query_id, refusal, now)
        sha = request_sha256(query)
        try:
            earlier = self.ledger.previous(request.query_id, sha)
            if earlier is not None and earlier.state is Start.ANSWERED:
                log.info("query %s delivered again: sending the stored answer", request.query_id)
                return json.loads(earlier.answer or "{}")
            with self.log_head.locked():
                checked = check_query(query, self.enrolment, self.identity.sealing,
                                      self.ledger.revocation(request.warrant.warrant.warrant_id),
                                      now, self.log_head.held())
                self.log_head.advance(checked.checkpoint)
            started = self.ledger.start(request.query_id, sha, checked.warrant.warrant_id,
                                        checked.warrant.max_uses)
            if started.state is Start.ANSWERED:
                return json.loads(started.answer or "{}")
        except WarrantRefused as refusal:
            answer = self._refuse(query, request.query_id, refusal, now)
            self.ledger.record_answer(request.query_id, sha, request.warrant.warrant.warrant_id,
                                      json.dumps(answer))
            return answer
        try:
            answer = self._search(query, checked, now)
        except WarrantRefused as refusal:  # nothing was searched: the use counted is returned
            answer = self._refuse(query, request.query_id, refusal, now)
            self.ledger.record_answer(request.query_id, sha, checked.warrant.warrant_id,
                                      json.dumps(answer), refused=True)
            return answer
        self.ledger.record_answer(request.query_id, sha, checked.warrant.warrant_id,
                                  json.dumps(answer))
        return answer

    def _search(self, query: SignedQuery, checked: Checked, now: datetime) -> dict[str, Any]:
        request = query.request
        if request.kind is Kind.FACE_WATCHLIST:
            return self._face_search(query, checked, now)
        if request.kind is not Kind.PLATE_WATCHLIST:
            raise WarrantRefused(Refusal.WRONG_KIND,
                                 f"this node answers watchlists, not {request.kind}")
        cameras = list(request.cameras)
        found = self.sightings.match(checked.targets, cameras, checked.window.start,
                                     checked.window.end)
        searched = self.sightings.count(cameras, checked.window.start, checked.window.end)
        hits = tuple(
            Hit(sighting_id=s.sighting_id, target=s.target, camera=s.camera, time=s.time,
                thumbnail=base64.b64encode(s.thumbnail).decode() if s.thumbnail else None)
            for s in found)
        return self._answered(query, hits, searched)

    def _answered(self, query: SignedQuery, hits: tuple[Hit, ...], searched: int
                  ) -> dict[str, Any]:
        request = query.request
        appended = self.audit.append(self._event(
            query, Action.QUERY_ANSWERED, "answered", len(hits),
            {"query_id": request.query_id, "sighting_ids": [h.sighting_id for h in hits],
             "searched": searched}))
        result = QueryResult(query_id=request.query_id, node_id=self.enrolment.node_id,
                             status=Status.ANSWERED, hits=hits, searched=searched,
                             node_log_index=appended.index, answered_at=self.clock())
        return self._signed(result)

    def _face_search(self, query: SignedQuery, checked: Checked, now: datetime
                     ) -> dict[str, Any]:
        """Decrypt the scope's recordings (logged first), match, forget the descriptors."""
        request = query.request
        tools = self._face_tools()
        try:
            references = {t: describe_reference(checked.references.get(t, b""), *tools)
                          for t in checked.targets}
        except BadReference as exc:
            raise WarrantRefused(Refusal.BAD_REFERENCE, str(exc)) from None
        self.audit.append(self._event(query, Action.CONSULTATION, "recordings_searched", 0,
                                      {"query_id": request.query_id,
                                       "references": len(references)}))
        matches, searched = face_search(self._vault().vault, list(request.cameras),
                                        checked.window.start, checked.window.end, references,
                                        *tools)
        hits = tuple(Hit(sighting_id=f"f-{m.segment}-{m.frame}", target=m.target,
                         camera=m.camera, time=m.time,
                         thumbnail=base64.b64encode(m.thumbnail).decode()) for m in matches)
        return self._answered(query, hits, searched)

    def _face_tools(self) -> tuple[CenterFaceDetector, FaceMatcher]:
        if self._faces is None:
            model_dir = self.settings.model_dir
            self._faces = (CenterFaceDetector(model_registry.model_path("centerface", model_dir),
                                              threshold=0.5, input_width=1280),
                           FaceMatcher(model_dir, self.settings.face_match_threshold))
        return self._faces

    def _vault(self) -> OpenVault:
        if self._opened is None:
            self._opened = open_vault(self.settings)
        return self._opened

    def _refuse(self, query: SignedQuery | None, query_id: str, refusal: WarrantRefused,
                now: datetime) -> dict[str, Any]:
        event = (self._event(query, Action.WARRANT_REFUSED, refusal.reason.value, 0,
                             {"query_id": query_id, "reason": str(refusal)})
                 if query is not None else
                 Event(actor=self.actor, action=Action.WARRANT_REFUSED,
                       legal_basis=LegalBasis.NONE, outcome=refusal.reason.value,
                       details={"query_id": query_id, "reason": str(refusal)}))
        appended = self.audit.append(event)
        log.warning("refused query %s: %s", query_id, refusal)
        result = QueryResult(query_id=query_id, node_id=self.enrolment.node_id,
                             status=Status.REFUSED, reason=refusal.reason.value,
                             detail=str(refusal), node_log_index=appended.index,
                             answered_at=now)
        return self._signed(result)

    def _event(self, query: SignedQuery, action: Action, outcome: str, count: int,
               details: dict[str, Any]) -> Event:
        request = query.request
        warrant = request.warrant.warrant
        return Event(
            actor=self.actor, action=action, outcome=outcome,
            **under(warrant.basis, warrant.warrant_id),
            purpose_code=warrant.purpose_code, counts_returned=count,
            scope=Scope(sites=(request.site,), cameras=request.cameras,
                        window=LogWindow(start=rfc3339(request.window.start),
                                         end=rfc3339(request.window.end))),
            recipients=("coordinator",), details=details)

    def _signed(self, result: QueryResult) -> dict[str, Any]:
        """Sign the answer (with the log size this node holds, so that the coordinator can
        prove consistency from it next time), then seal it to the coordinator's pinned key."""
        held = self.log_head.held()
        result = result.model_copy(update={"log_size": held.size if held else None})
        signed = SignedResult(result=result, signature=result.sign(self.identity.signing))
        sealed = seal(parse_public(self.enrolment.coordinator_sealing_key),
                      signed.model_dump_json().encode(),
                      result_info(result.query_id, result.node_id))
        return SealedResult(query_id=result.query_id, node_id=result.node_id,
                            sealed=base64.b64encode(sealed).decode()).model_dump(mode="json")

    # -- planners' aggregate questions ------------------------------------------------------

    @property
    def aggregates(self) -> AggregateAnswerer:
        if self._aggregates is None:
            self._aggregates = AggregateAnswerer(self.settings, self.enrolment,
                                                 self.identity.signing, self.audit, self.ledger,
                                                 self.clock)
        return self._aggregates

    # -- revocations -------------------------------------------------------------------------

    def revoke(self, message: Any) -> dict[str, Any]:
        try:
            revocation = SignedRevocation.model_validate(message)
            check_revocation(revocation, self.enrolment)
        except (ValidationError, WarrantRefused) as exc:
            detail = str(exc) if isinstance(exc, WarrantRefused) else "not a revocation message"
            self.audit.append(Event(actor=self.actor, action=Action.WARRANT_REFUSED,
                                    legal_basis=LegalBasis.NONE, outcome="bad_revocation",
                                    details={"reason": detail}))
            return {"node_id": self.enrolment.node_id, "recorded": False, "detail": detail}
        body = revocation.revocation
        new = self.ledger.revoke(body.warrant_id, body.revoked_at, body.reason,
                                 revocation.key_id)
        if new:
            self.audit.append(Event(actor=self.actor, action=Action.WARRANT_REVOKED,
                                    legal_basis=LegalBasis.WARRANT, warrant_id=body.warrant_id,
                                    outcome="revoked", details={"reason": body.reason}))
        return {"node_id": self.enrolment.node_id, "recorded": True}

    # -- changes of the pinned keys ----------------------------------------------------------

    def update_pins(self, message: Any) -> dict[str, Any]:
        """Apply a pin update signed by a quorum of the pinned authorities, whole or not at
        all; log it first; answer with a signed acknowledgement of the pins held now."""
        sequence = _update_sequence(message)
        try:
            signed = parse_update(message)
            updated = apply_update(self.enrolment, signed)
        except PinRefused as refusal:
            self.audit.append(Event(actor=self.actor, action=Action.CONFIG_CHANGE,
                                    legal_basis=LegalBasis.STATUTE, outcome="pins_refused",
                                    details={"sequence": sequence,
                                             "reason": refusal.reason.value,
                                             "detail": str(refusal)}))
            log.warning("refused pin update %s: %s", sequence, refusal)
            return self._pin_ack(sequence, refusal)
        update = signed.update
        self.audit.append(Event(
            actor=self.actor, action=Action.CONFIG_CHANGE, legal_basis=LegalBasis.STATUTE,
            outcome="pins_updated",
            details={"sequence": update.sequence, "reason": update.reason,
                     "changes": [c.model_dump(mode="json") for c in update.changes],
                     "signers": sorted(s.key_id for s in signed.signatures),
                     "pinned_sha256": pinned_sha256(updated.pinned())}))
        save_enrolment(self.settings.data_dir, updated)
        self.enrolment, self._pins_stamp = updated, self._enrolment_stamp()
        return self._pin_ack(sequence, None)

    def _pin_ack(self, sequence: int, refusal: PinRefused | None) -> dict[str, Any]:
        """Signed with the node's identity key: what it holds now, applied or not."""
        ack = PinAck(node_id=self.enrolment.node_id, update_sequence=sequence,
                     applied=refusal is None,
                     reason=refusal.reason.value if refusal else None,
                     detail=str(refusal) if refusal else None,
                     sequence=self.enrolment.pins_sequence,
                     pinned_sha256=pinned_sha256(self.enrolment.pinned()),
                     acknowledged_at=self.clock())
        return SignedPinAck(ack=ack, signature=ack.sign(self.identity.signing)
                            ).model_dump(mode="json")

    # -- models the federation trained --------------------------------------------------------

    def install_model(self, message: Any) -> dict[str, Any]:
        """Install a model signed by the pinned coordinator key; refuse anything else."""
        from nodes.learning.deployed import install

        try:
            installed = install(self.settings, self.enrolment, message)
        except VerificationError as exc:
            self.audit.append(Event(actor=self.actor, action=Action.CONFIG_CHANGE,
                                    legal_basis=LegalBasis.STATUTE, outcome="model_refused",
                                    details={"reason": str(exc)}))
            log.warning("refused a model: %s", exc)
            return {"node_id": self.enrolment.node_id, "installed": False, "detail": str(exc)}
        self.audit.append(Event(actor=self.actor, action=Action.CONFIG_CHANGE,
                                legal_basis=LegalBasis.STATUTE, outcome="model_installed",
                                details={"task": installed.task, "run_id": installed.run_id}))
        return {"node_id": self.enrolment.node_id, "installed": True, "task": installed.task,
                "run_id": installed.run_id, "threshold": installed.threshold,
                "calibrated_on": installed.calibrated_on}


def _update_sequence(message: Any) -> int:
    try:
        value = message["update"]["sequence"]
    except (TypeError, KeyError):
        return 0
    valid = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53
    return value if valid else 0


def _query_id(message: Any) -> str:
    try:
        value = message["request"]["query_id"]
    except (TypeError, KeyError):
        return "unknown"
    return value if isinstance(value, str) and len(value) <= 64 else "unknown"


def worker_app(settings: NodeSettings, service: Callable[[], QueryService]) -> Celery:
    """The node's Celery app: its own queue, late acknowledgement, one message at a time."""
    broker, backend = city_ca.broker_url(settings), city_ca.result_backend(settings)
    if not broker or not backend:
        raise ConfigError("set broker_url and result_backend in the node config to take queries")
    app = Celery("safecity-node", broker=broker, backend=backend)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        result_expires=timedelta(days=7),
    )
    if broker.startswith(("redis", "rediss", "sqs")):  # brokers without AMQP acks
        app.conf.broker_transport_options = {
            "visibility_timeout": settings.redelivery_seconds,
            # sweep for abandoned messages at the same pace (kombu's default sweeps every 100 s)
            "unacked_restore_interval": max(1, min(10, settings.redelivery_seconds)),
            "unacked_restore_throttle": 1,
        }

    def fresh() -> QueryService:
        opened = service()
        opened.refresh()
        return opened

    @app.task(name=QUERY_TASK)
    def query(message: dict[str, Any]) -> dict[str, Any]:
        return fresh().answer(message)

    @app.task(name=AGGREGATE_TASK)
    def aggregate(message: dict[str, Any]) -> dict[str, Any]:
        return fresh().aggregates.answer(message)

    @app.task(name=REVOCATION_TASK)
    def revoke(message: dict[str, Any]) -> dict[str, Any]:
        return fresh().revoke(message)

    @app.task(name=MODEL_TASK)
    def model(message: dict[str, Any]) -> dict[str, Any]:
        return fresh().install_model(message)

    @app.task(name=PIN_TASK)
    def pins(message: dict[str, Any]) -> dict[str, Any]:
        return fresh().update_pins(message)

    return app
