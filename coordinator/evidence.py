"""The evidence of alerts: taken off the broker from the enrolled node that signed it, checked
(the JPEG is the one whose SHA-256 the node signed, decodes as a picture of the size signed, the
box inside it, about an alert of that node's camera at that time), stored bound to the alert,
and deleted with it (``coordinator.housekeeping.purge_alerts``).

Shown to the control room's roles only; each look at a picture is an access, logged
(``consultation``, who in public, which evidence sealed for the DPO), as the incidents' steps
are. The signature is checked again whenever the evidence is listed, so a picture altered in
the database shows as such."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Any, Protocol

import cv2
import numpy as np
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from audit.records import Action, Event, LegalBasis
from contract.events import COUNTED_TYPES
from contract.evidence import Evidence, EvidenceBox, SignedEvidence
from contract.evidence_clips import ClipFrame
from coordinator.alert_intake import from_enrolled_node
from coordinator.auth import Principal
from coordinator.db import Alert, AlertEvidence, Node
from coordinator.errors import (
    EvidenceEarly,
    EvidenceRejected,
    ReportRejected,
    not_found,
    signed_by,
)
from coordinator.service import Coordinator, as_utc
from kernel.errors import describe
from kernel.jpeg_scans import sequential_problem
from kernel.jpeg_size import jpeg_size
from privacy.signing import KeyFileError, VerifyKey


class EvidenceView(BaseModel):
    """What the control room and the API show of a piece of evidence (the picture apart)."""

    id: int
    alert_id: int
    incident_id: int | None
    node_id: str
    camera: str
    time: datetime
    width: int
    height: int
    box: EvidenceBox | None
    jpeg_sha256: str
    intact: bool  # the node's signature and the picture's digest check, now


def accept_evidence(svc: Coordinator, message: Any) -> int | None:
    """Store a node's evidence of one of its alerts; its id, or None when the alert has some
    already (a resend). Raises :class:`EvidenceRejected` saying which check failed, or
    :class:`EvidenceEarly` when the alert is not stored yet."""
    try:
        signed = SignedEvidence.model_validate(message)
    except ValidationError as exc:
        raise EvidenceRejected(f"not evidence: {describe(exc)}") from None
    evidence = signed.evidence
    node = from_enrolled_node(svc, evidence, signed.signature, evidence.node_id, evidence.site,
                              {evidence.camera}, "evidence", EvidenceRejected)
    # the picture travels unsigned beside its signed digest: one that is not the signed one is
    # not the node's message (anyone on the broker may have swapped it), so it names no node
    jpeg = signed_picture(signed.jpeg, evidence)
    with signed_by(node.node_id):
        jpeg = checked_picture(jpeg, evidence)
        try:
            return _store(svc, node, signed, jpeg)
        except IntegrityError:  # a concurrent worker stored the resend
            return None


def _store(svc: Coordinator, node: Node, signed: SignedEvidence, jpeg: bytes) -> int | None:
    evidence = signed.evidence
    with svc.session() as session:
        alert = session.scalars(select(Alert).where(Alert.node_id == node.node_id,
                                                    Alert.seq == evidence.seq)).first()
        if alert is None:
            raise EvidenceEarly(f"no alert {evidence.seq} of {node.node_id} yet",
                                   node=node.node_id)
        if alert.camera != evidence.camera or as_utc(alert.time) != as_utc(evidence.time):
            raise EvidenceRejected(f"the evidence is not of alert {evidence.seq} of "
                                   f"{node.node_id} (another camera or time)")
        if alert.type in COUNTED_TYPES:
            raise EvidenceRejected(f"alert {evidence.seq} of {node.node_id} is a count")
        if session.scalars(select(AlertEvidence.id)
                           .where(AlertEvidence.alert_id == alert.id)).first() is not None:
            return None
        row = AlertEvidence(alert_id=alert.id, incident_id=alert.incident_id,
                            metadata_=evidence.model_dump(mode="json"),
                            signature=signed.signature, jpeg=jpeg, received_at=svc.clock())
        session.add(row)
        session.flush()
        return row.id


class Pictured(Protocol):
    """What a node signs of a picture it sends (an alert's evidence, a clip's frame)."""

    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def box(self) -> EvidenceBox | None: ...
    @property
    def jpeg_sha256(self) -> str: ...
    @property
    def jpeg_bytes(self) -> int: ...


def signed_picture(encoded: str, signed: Pictured, what: str = "evidence",
                   rejected: type[ReportRejected] = EvidenceRejected) -> bytes:
    """The JPEG (base64 ``encoded``), if it is the one whose size and SHA-256 were signed;
    else ``rejected``. Checked before the refusals that name the node (``signed_by``): the
    picture is not signed itself, so a picture swapped on the broker is no message of the node
    (red team 3: each such message was a public entry naming the honest node)."""
    try:
        jpeg = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise rejected(f"the {what}'s picture is not base64") from None
    if len(jpeg) != signed.jpeg_bytes or hashlib.sha256(jpeg).hexdigest() != signed.jpeg_sha256:
        raise rejected(f"the {what}'s picture is not the one signed (SHA-256 differs)")
    return jpeg


def checked_picture(jpeg: bytes, signed: Pictured, what: str = "evidence",
                    rejected: type[ReportRejected] = EvidenceRejected) -> bytes:
    """The JPEG (``signed_picture``'s, the one signed), if it looks as signed; else
    ``rejected`` saying which check failed of ``what``."""
    # the size its header states, checked before a decoder allocates for it (red team F3: a
    # 192 kB JPEG stating 7000x7000 was decoded to 147 MB, then refused)
    stated = jpeg_size(jpeg)
    if stated is None or jpeg[:3] != b"\xff\xd8\xff":
        raise rejected(f"the {what}'s picture is not a JPEG")
    if stated != (signed.width, signed.height):
        raise rejected(f"the {what}'s picture is {stated[0]}x{stated[1]}, "
                       f"signed as {signed.width}x{signed.height}")
    # the scans walked before decoding: a progressive JPEG repeating one scan thousands of
    # times costs seconds per picture to decode, here and in each viewer (red team 2)
    problem = sequential_problem(jpeg)
    if problem is not None:
        raise rejected(f"the {what}'s picture {problem}")
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[:2] != (signed.height, signed.width):
        raise rejected(f"the {what}'s picture does not decode at its signed size")
    box = signed.box
    if box is not None and not (box.left <= box.right < signed.width
                                and box.top <= box.bottom < signed.height):
        raise rejected(f"the {what}'s box is not inside its picture")
    return jpeg


def intact(kind: type[Evidence] | type[ClipFrame], metadata: dict[str, Any], signature: str,
           jpeg: bytes, key: str | None) -> bool:
    """Whether a stored picture still checks: its metadata signed by the node's enrolled
    ``key`` and the JPEG the one whose SHA-256 it holds (altered where stored: False)."""
    try:
        signed = kind.model_validate(metadata)
        verify = VerifyKey.parse(key) if key else None
    except (ValidationError, KeyFileError):
        return False
    return (verify is not None and signed.signed_by(verify, signature)
            and hashlib.sha256(jpeg).hexdigest() == signed.jpeg_sha256)


def _view(row: AlertEvidence, key: str | None) -> EvidenceView:
    signed = row.metadata_
    box = signed.get("box")
    return EvidenceView(id=row.id, alert_id=row.alert_id, incident_id=row.incident_id,
                        node_id=signed["node_id"], camera=signed["camera"],
                        time=datetime.fromisoformat(signed["time"]), width=signed["width"],
                        height=signed["height"], box=EvidenceBox(**box) if box else None,
                        jpeg_sha256=signed["jpeg_sha256"],
                        intact=intact(Evidence, row.metadata_, row.signature, row.jpeg, key))


def of_incident(svc: Coordinator, incident_id: int) -> list[EvidenceView]:
    """The evidence of an incident's alerts, in the order of their events."""
    with svc.session() as session:
        rows = session.scalars(select(AlertEvidence)
                               .join(Alert, Alert.id == AlertEvidence.alert_id)
                               .where(AlertEvidence.incident_id == incident_id)
                               .order_by(Alert.time, Alert.id)).all()
        keys = {n.node_id: n.identity_key for n in session.scalars(select(Node).where(
            Node.node_id.in_({r.metadata_["node_id"] for r in rows})))}
        return [_view(r, keys.get(r.metadata_["node_id"])) for r in rows]


def picture(svc: Coordinator, who: Principal, incident_id: int, evidence_id: int) -> bytes:
    """The JPEG of one piece of an incident's evidence; the look is logged first."""
    with svc.session() as session:
        row = session.get(AlertEvidence, evidence_id)
        if row is None or row.incident_id != incident_id:
            raise not_found(f"evidence {evidence_id} of incident {incident_id}")
        jpeg, alert_id = row.jpeg, row.alert_id
    svc.log(Event(actor=who.actor, action=Action.CONSULTATION, legal_basis=LegalBasis.STATUTE,
                  purpose_code="control_room", outcome="evidence_viewed",
                  details={"evidence": str(evidence_id), "alert": str(alert_id),
                           "incident": str(incident_id)}))
    return jpeg


def counts(svc: Coordinator, incident_ids: list[int]) -> dict[int, int]:
    """How many pieces of evidence each of these incidents has (those with none left out)."""
    with svc.session() as session:
        return {int(i): int(n) for i, n in session.execute(
            select(AlertEvidence.incident_id, func.count())
            .where(AlertEvidence.incident_id.in_(incident_ids))
            .group_by(AlertEvidence.incident_id)) if i is not None}
