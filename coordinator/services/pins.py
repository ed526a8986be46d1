"""The city's pinned keys at the coordinator: what every node was handed at enrolment, each
change proposed by an admin and signed by a quorum of the pinned judges and DPOs, logged before
it is sent to every node's queue, and what each node acknowledged holding.

The coordinator is not trusted to name judges (a node checks every update itself, see
nodes/inbox/pin_updates.py); it keeps this record so that it never registers or dispatches a warrant
that a target node cannot verify: such a warrant would only be refused there.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError

from audit.cosignature import CosignerKey
from audit.records import Action, Actor, Event, LegalBasis
from contract.pins import (
    DEFAULT_QUORUM,
    PinChange,
    Pinned,
    PinRefused,
    PinSignature,
    PinUpdate,
    SignedPinAck,
    SignedPinUpdate,
    applied,
    authorities,
    check_quorum,
    check_usable,
    pinned_set,
    pinned_sha256,
    same_digest,
)
from contract.tasks import PIN_TASK
from contract.warrants import SignedWarrant, key_id
from coordinator.db import Node, PinAckRow, PinUpdateRow, User
from coordinator.errors import DispatchError, Problem, invalid, not_found
from coordinator.roles import Role
from coordinator.service import Coordinator
from kernel.errors import SafecityError
from privacy.signing import KeyFileError, VerifyKey

HELD = ("enrolled", "applied", "refused")  # acknowledgements that say what a node holds


def _genesis_keys(svc: Coordinator) -> Pinned:
    """The set the first node pins: today's active judges and DPOs, and the witnesses the
    coordinator is configured with."""
    with svc.session() as session:
        rows = session.execute(select(User.role, User.signing_key).where(
            User.active, User.signing_key.is_not(None))).all()
    keys = [(r, k) for r, k in rows if k is not None]  # the query excludes NULL: narrows for mypy
    return pinned_set({"judge": [k for r, k in keys if r == Role.JUDGE],
                       "dpo": [k for r, k in keys if r == Role.DPO],
                       "witness": [w.key for w in svc.settings.witnesses]})


def current(svc: Coordinator) -> PinUpdateRow:
    """The city's pinned set now (the last update sent), created from the people registered
    today when the first node enrols."""
    with svc.session() as session:
        row = session.scalars(select(PinUpdateRow).where(
            PinUpdateRow.status.in_(("genesis", "dispatched")))
            .order_by(PinUpdateRow.sequence.desc())).first()
    if row is not None:
        return row
    keys = _genesis_keys(svc)
    try:
        with svc.session() as session:
            session.add(PinUpdateRow(sequence=0, status="genesis", update=None, signatures=[],
                                     pinned=keys, pinned_sha256=pinned_sha256(keys),
                                     proposed_by="enrolment", created_at=svc.clock()))
    except IntegrityError:  # another enrolment created it first
        pass
    return current(svc)


def handed(svc: Coordinator, node_id: str, row: PinUpdateRow) -> None:
    """Record the pins an enrolment document hands a node (it applies them offline)."""
    with svc.session() as session:
        if session.get(PinAckRow, (row.sequence, node_id)) is None:
            session.add(PinAckRow(sequence=row.sequence, node_id=node_id, task_id="enrolment",
                                  status="enrolled", node_sequence=row.sequence,
                                  pinned_sha256=row.pinned_sha256, at=svc.clock()))


# -- proposing, signing, sending ----------------------------------------------------------------

def _check_keys(changes: Iterable[PinChange]) -> None:
    for change in changes:
        for text in change.add:
            try:
                if change.role == "witness":
                    CosignerKey.from_vkey(text)
                else:
                    VerifyKey.parse(text)
            except (KeyFileError, SafecityError) as exc:
                raise invalid(f"{change.role} key {text[:40]}: {exc}") from None


def propose(svc: Coordinator, who: Actor, username: str, changes: list[PinChange],
            reason: str) -> PinUpdateRow:
    """The next update after the current set (replacing a proposal not yet sent)."""
    _check_keys(changes)
    base = current(svc)
    try:
        proposed = PinUpdate(sequence=base.sequence + 1, previous_sha256=base.pinned_sha256,
                             changes=tuple(changes), reason=reason, issued_at=svc.clock())
        after = applied(base.pinned, proposed)
        check_usable(after, DEFAULT_QUORUM)
    except ValidationError as exc:
        raise invalid(str(exc.errors()[0]["msg"])) from None
    except PinRefused as exc:
        raise invalid(str(exc), exc.reason.value) from None
    body = proposed.model_dump(mode="json")
    svc.log(Event(actor=who, action=Action.CONFIG_CHANGE, legal_basis=LegalBasis.STATUTE,
                  outcome="pins_proposed", details={"user": username, "update": body}))
    with svc.session() as session:
        row = session.get(PinUpdateRow, proposed.sequence)
        if row is None:
            row = PinUpdateRow(sequence=proposed.sequence)
            session.add(row)
        row.status, row.update, row.signatures = "proposed", body, []
        row.pinned, row.pinned_sha256 = after, pinned_sha256(after)
        row.proposed_by, row.created_at, row.logged_index = username, svc.clock(), None
    return one(svc, proposed.sequence)


def listed(svc: Coordinator) -> list[dict[str, Any]]:
    """Every pin update, oldest first, with the acknowledgements that have arrived."""
    collect_acks(svc)
    with svc.session() as session:
        rows = session.scalars(select(PinUpdateRow).order_by(PinUpdateRow.sequence)).all()
    return [view(svc, row) for row in rows]


def one(svc: Coordinator, sequence: int) -> PinUpdateRow:
    with svc.session() as session:
        row = session.get(PinUpdateRow, sequence)
    if row is None:
        raise not_found(f"pin update {sequence}")
    return row


def _proposal(svc: Coordinator, sequence: int) -> tuple[PinUpdateRow, SignedPinUpdate, Pinned]:
    """A proposal still open, the update with its signatures, and the set it changes."""
    row = one(svc, sequence)
    if row.status != "proposed":
        raise Problem(409, "Conflict", f"pin update {sequence} is {row.status}, not proposed",
                      row.status)
    base = current(svc)
    signed = SignedPinUpdate.model_validate({"update": row.update,
                                             "signatures": row.signatures})
    if base.sequence + 1 != sequence or not same_digest(signed.update.previous_sha256,
                                                        base.pinned_sha256):
        raise Problem(409, "Conflict", f"pin update {sequence} changes a set that is no longer "
                      "the city's; propose it again", "stale")
    return row, signed, base.pinned


def add_signature(svc: Coordinator, who: Actor, username: str, sequence: int,
                  signature: str) -> PinUpdateRow:
    """A pinned judge's or DPO's signature, checked against the key they registered."""
    row, signed, pinned = _proposal(svc, sequence)
    with svc.session() as session:
        user = session.get(User, username)
        text = user.signing_key if user else None
    key = VerifyKey.parse(text) if text else None
    if key is None or key_id(key) not in authorities(pinned):
        raise Problem(403, "Forbidden", "your key is not among the judge and DPO keys the "
                      "nodes pin; it cannot sign a change of them", "unknown_signer")
    if not signed.update.signed_by(key, signature):
        raise Problem(403, "Forbidden", "the signature does not verify with your registered "
                      "key over this update's payload", "bad_signature")
    mine = PinSignature(key_id=key_id(key), signature=signature)
    kept = [s for s in row.signatures if s["key_id"] != mine.key_id]
    svc.log(Event(actor=who, action=Action.CONFIG_CHANGE, legal_basis=LegalBasis.STATUTE,
                  outcome="pins_signed", details={"user": username, "sequence": sequence,
                                                  "key_id": mine.key_id}))
    with svc.session() as session:
        session.get_one(PinUpdateRow, sequence).signatures = [*kept, mine.model_dump(mode="json")]
    return one(svc, sequence)


def dispatch(svc: Coordinator, who: Actor, username: str, sequence: int) -> PinUpdateRow:
    """Log the update, then send it to every active node; sending a sent update again goes
    to the nodes that have not acknowledged it."""
    row = one(svc, sequence)
    if row.status != "dispatched":
        row, signed, pinned = _proposal(svc, sequence)
        try:
            signers = check_quorum(signed, pinned, DEFAULT_QUORUM)
        except PinRefused as exc:
            raise Problem(409, "Conflict", str(exc), exc.reason.value) from None
        index = svc.log(Event(
            actor=who, action=Action.CONFIG_CHANGE, legal_basis=LegalBasis.STATUTE,
            outcome="pins_dispatched",
            details={"user": username, "update": row.update, "signers": sorted(signers),
                     "pinned_sha256": row.pinned_sha256}))
        with svc.session() as session:  # two admins at once: one sends it
            # an UPDATE returns a CursorResult (rowcount); execute() is typed for SELECT
            claimed = cast(CursorResult[Any], session.execute(update(PinUpdateRow).where(
                PinUpdateRow.sequence == sequence, PinUpdateRow.status == "proposed")
                .values(status="dispatched", logged_index=index))).rowcount
        if claimed != 1:
            return one(svc, sequence)
    message = {"update": row.update, "signatures": one(svc, sequence).signatures}
    with svc.session() as session:
        nodes = session.scalars(select(Node).where(Node.active)).all()
        done = set(session.scalars(select(PinAckRow.node_id).where(  # or enrolled since
            PinAckRow.status.in_(HELD), PinAckRow.node_sequence >= sequence)))
    for node in nodes:
        if node.node_id not in done:
            _send(svc, sequence, node.node_id, message)
    return one(svc, sequence)


def _send(svc: Coordinator, sequence: int, node_id: str, message: dict[str, Any]) -> None:
    task = f"pins-{sequence}-{node_id}-{uuid.uuid4().hex[:8]}"
    status, detail = "pending", None
    try:
        svc.dispatcher.send(PIN_TASK, message, node_id, task)
    except DispatchError as exc:  # sent again with the next dispatch
        status, detail = "unsent", str(exc)
    with svc.session() as session:
        ack = session.get(PinAckRow, (sequence, node_id))
        if ack is None:
            ack = PinAckRow(sequence=sequence, node_id=node_id)
            session.add(ack)
        ack.task_id, ack.status, ack.detail, ack.at = task, status, detail, svc.clock()
        ack.reason = ack.node_sequence = ack.pinned_sha256 = None


# -- acknowledgements ---------------------------------------------------------------------------

def collect_acks(svc: Coordinator) -> None:
    """Read the acknowledgements that have arrived (never waits)."""
    with svc.session() as session:
        pending = session.scalars(select(PinAckRow).where(PinAckRow.status == "pending")).all()
        keys = dict(session.execute(select(Node.node_id, Node.identity_key)).all())
    for ack in pending:
        try:
            answer = svc.dispatcher.answer(ack.task_id)
        except DispatchError:
            return
        if answer is not None:
            _record(svc, ack, answer, keys[ack.node_id])


def _record(svc: Coordinator, ack: PinAckRow, answer: dict[str, Any], key: str) -> None:
    try:
        signed = SignedPinAck.model_validate(answer)
        valid = (signed.ack.signed_by(VerifyKey.parse(key), signed.signature)
                 and signed.ack.node_id == ack.node_id
                 and signed.ack.update_sequence == ack.sequence)
    except ValidationError:
        valid = False
    with svc.session() as session:
        row = session.get_one(PinAckRow, (ack.sequence, ack.node_id))
        row.at = svc.clock()
        if not valid:
            row.status, row.reason = "failed", "bad_answer"
            row.detail = str(answer.get("failed", "not an acknowledgement signed by the node"))
        else:
            body = signed.ack
            row.status = "applied" if body.applied else "refused"
            row.node_sequence, row.pinned_sha256 = body.sequence, body.pinned_sha256
            row.reason, row.detail = body.reason, body.detail
    svc.log(Event(actor=svc.actor("coordinator", "system", "city"), action=Action.CONFIG_CHANGE,
                  legal_basis=LegalBasis.STATUTE, outcome="pins_acknowledged",
                  details={"sequence": ack.sequence, "node_id": ack.node_id,
                           "status": "applied" if valid and signed.ack.applied else
                           "refused" if valid else "failed",
                           "reason": signed.ack.reason if valid else "bad_answer"}))


def held(svc: Coordinator, node_ids: Iterable[str]) -> dict[str, Pinned | None]:
    """The set each node last acknowledged holding (None: unknown, e.g. enrolled before the
    coordinator kept this record): a node's word counts only where it matches a set the city
    had, at the sequence it names."""
    collect_acks(svc)
    wanted = list(node_ids)
    with svc.session() as session:
        rows = session.execute(
            select(PinAckRow.node_id, func.max(PinAckRow.node_sequence))
            .join(PinUpdateRow, PinUpdateRow.sequence == PinAckRow.node_sequence)
            .where(PinAckRow.node_id.in_(wanted), PinAckRow.status.in_(HELD),
                   PinAckRow.pinned_sha256 == PinUpdateRow.pinned_sha256,
                   PinUpdateRow.status.in_(("genesis", "dispatched")))
            .group_by(PinAckRow.node_id)).all()
        sets = {s.sequence: s.pinned for s in session.scalars(select(PinUpdateRow).where(
            PinUpdateRow.sequence.in_([seq for _, seq in rows])))}
    found = {node: sets[seq] for node, seq in rows if seq is not None}  # the join needs one
    return {node: found.get(node) for node in wanted}


def lacking(svc: Coordinator, signed: SignedWarrant, node_ids: Iterable[str]
            ) -> dict[str, list[str]]:
    """The nodes that have not acknowledged pinning a key that signed ``signed``: node id ->
    the roles whose key it lacks."""
    signatures = {role: s.key_id for role, s in (("judge", signed.judge), ("dpo", signed.dpo))
                  if s is not None}
    missing: dict[str, list[str]] = {}
    for node, pinned in held(svc, node_ids).items():
        ids = {role: {key_id(VerifyKey.parse(k)) for k in (pinned or {}).get(role, [])}
               for role in signatures}
        roles = [role for role, kid in signatures.items() if kid not in ids[role]]
        if roles:
            missing[node] = roles
    return missing


def describe_lacking(missing: dict[str, list[str]]) -> str:
    nodes = ", ".join(f"{node} ({' and '.join(roles)} key)"
                      for node, roles in sorted(missing.items()))
    return (f"not pinned at node(s) {nodes}: these nodes would refuse it; a pin update adding "
            "the key must be signed, sent and acknowledged first (POST /pins)")


def view(svc: Coordinator, row: PinUpdateRow) -> dict[str, Any]:
    with svc.session() as session:
        acks = session.scalars(select(PinAckRow).where(PinAckRow.sequence == row.sequence)
                               .order_by(PinAckRow.node_id)).all()
    shown: dict[str, Any] = {
        "sequence": row.sequence, "status": row.status, "pinned": row.pinned,
        "pinned_sha256": row.pinned_sha256, "proposed_by": row.proposed_by,
        "logged_index": row.logged_index, "update": row.update,
        "signatures": row.signatures,
        "nodes": [{"node_id": a.node_id, "status": a.status, "sequence": a.node_sequence,
                   "pinned_sha256": a.pinned_sha256, "reason": a.reason, "detail": a.detail}
                  for a in acks]}
    if row.update is not None:
        shown["payload"] = base64.b64encode(PinUpdate.model_validate(row.update).payload()
                                            ).decode()
    return shown
