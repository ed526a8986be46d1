"""Watchlist queries under a registered warrant or consent: submit, collect, read, confirm.

Lifecycle: submitted, authorised (the same checks every node repeats), logged, dispatched to
each node's own queue, answered by each node (signed), aggregated. The requester sees the hits
and each node's status, nothing else; every step is an audit entry written before it happens.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import CursorResult, select, update

from audit.records import Action, Event, Scope, rfc3339, under
from audit.records import Window as LogWindow
from contract.queries import Status
from contract.registered_warrant import check_registered
from contract.tasks import QUERY_TASK
from contract.warrants import (
    Kind,
    Refusal,
    SignedWarrant,
    WarrantRefused,
    Window,
    check_scope,
    verify,
)
from coordinator.auth import Principal
from coordinator.db import Confirmation, Node, Query, QueryNode, User
from coordinator.db import Warrant as WarrantRow
from coordinator.dispatch import TIMED_OUT, collect
from coordinator.errors import Problem, invalid, not_found
from coordinator.node_log_heads import held_size, note_log_size
from coordinator.query_messages import build_query, open_result
from coordinator.roles import Permission, Role, allows
from coordinator.service import Coordinator, as_utc
from coordinator.services import pins
from coordinator.services.fan_out import send_parts, task_id
from coordinator.services.requests import NewQuery
from coordinator.services.warrants import refuse, signed_of, witnessed_checkpoint
from coordinator.targets import validate_references, validate_targets
from kernel.errors import SafecityError
from kernel.json_logs import QUERY_ID
from privacy.signing import VerifyKey

log = logging.getLogger(__name__)
FINAL = {Status.ANSWERED, Status.REFUSED, Status.UNREACHABLE, Status.FAILED}
CONFIRMATIONS = 2  # different people who must confirm a face match before it counts


def _signer_keys(svc: Coordinator) -> tuple[list[VerifyKey], list[VerifyKey]]:
    with svc.session() as session:
        rows = session.execute(select(User.role, User.signing_key).where(
            User.active, User.signing_key.is_not(None))).all()
    keys = [(r, k) for r, k in rows if k is not None]  # the query excludes NULL: narrows for mypy
    judges = [VerifyKey.parse(k) for r, k in keys if r == Role.JUDGE]
    dpos = [VerifyKey.parse(k) for r, k in keys if r == Role.DPO]
    return judges, dpos


def authorise(svc: Coordinator, row: WarrantRow, kind: Kind, cameras: list[str],
              window: Window, targets: list[str], now: datetime,
              references: dict[str, str] | None = None) -> SignedWarrant:
    """The coordinator's own checks, the same a node makes (``references``: the SHA-256 of each
    face target's reference image). Raise WarrantRefused."""
    signed = signed_of(row)
    if row.status == "revoked":
        raise WarrantRefused(Refusal.REVOKED, f"{row.warrant_id} was revoked")
    if row.status == "expired":
        raise WarrantRefused(Refusal.EXPIRED, f"{row.warrant_id} expired at "
                             f"{signed.warrant.expires_at.isoformat()}")
    if row.status == "declined":
        raise WarrantRefused(Refusal.UNSIGNED, f"{row.warrant_id} was declined by its signer")
    if row.status != "registered":
        if signed.judge is None and signed.dpo is None:
            raise WarrantRefused(Refusal.UNSIGNED, f"{row.warrant_id} is not signed")
        raise WarrantRefused(Refusal.NOT_IN_LOG, f"{row.warrant_id} is not registered in the "
                             "audit log (a signature is missing)")
    verify(signed, *_signer_keys(svc), now)
    _check_logged(svc, row, signed)
    if row.uses >= signed.warrant.max_uses:
        raise WarrantRefused(Refusal.USED_UP, f"all {signed.warrant.max_uses} uses of "
                             f"{row.warrant_id} are spent")
    for site in signed.warrant.sites:
        check_scope(signed.warrant, kind, site, cameras, window, targets, references)
    return signed


def _check_logged(svc: Coordinator, row: WarrantRow, signed: SignedWarrant) -> None:
    """The same registration check every node makes (contract.registered_warrant)."""
    index = row.registered_index
    try:
        record = svc.audit.entry(int(index)).record if index is not None else None
        salt = svc.audit.opening(int(index), "warrant_sha256") if index is not None else b""
    except SafecityError:  # a missing entry, or one that is not a record: exactly the refusal
        record, salt = None, b""
    check_registered(record, salt, signed)


def submit(svc: Coordinator, who: Principal, body: NewQuery) -> dict[str, Any]:
    """Check, spend a use, log, store, then send one sealed signed query per node; the view of
    the new query. Every refusal is logged before it is answered."""
    now = svc.clock()
    with svc.session() as session:
        row = session.get(WarrantRow, body.warrant_id)
        if row is None or row.requested_by != who.username:
            raise not_found(f"warrant {body.warrant_id} of yours")
        nodes = session.scalars(select(Node).where(Node.active)).all()
    signed = signed_of(row)
    kind = signed.warrant.kind
    if kind not in (Kind.PLATE_WATCHLIST, Kind.FACE_WATCHLIST):
        raise invalid(f"{kind.value} is not a query; it is served by evidence export",
                      "unsupported_kind")
    targets = validate_targets(kind, body.targets, svc.settings.max_targets)
    # compared and sent as their plain PNGs: the pixels the signers saw and the node searches
    images = (validate_references(targets, body.references)
              if kind is Kind.FACE_WATCHLIST else {})
    references = ({t: base64.b64encode(png).decode() for t, png in images.items()}
                  if kind is Kind.FACE_WATCHLIST else None)
    reference_digests = {t: hashlib.sha256(png).hexdigest() for t, png in images.items()}
    cameras = sorted(set(body.cameras or signed.warrant.cameras))
    window = body.window or signed.warrant.window
    query_id = body.query_id or str(uuid.uuid4())
    QUERY_ID.set(query_id)
    try:
        with svc.session() as session:
            if session.get(Query, query_id) is not None:
                raise WarrantRefused(Refusal.REPLAYED, f"query {query_id} was already submitted")
        signed = authorise(svc, row, kind, cameras, window, targets, now, reference_digests)
    except WarrantRefused as refusal:
        raise refuse(svc, who, row, refusal,
                     409 if refusal.reason is Refusal.REPLAYED else 403) from None
    plan = [(n, [c for c in cameras if c in n.cameras]) for n in nodes
            if n.site_id in signed.warrant.sites]
    plan = [(n, cams) for n, cams in plan if cams]
    if not plan:
        raise invalid(f"no enrolled node has any of the cameras {', '.join(cameras)} at sites "
                      f"{', '.join(signed.warrant.sites)}", "unknown_node")
    missing = pins.lacking(svc, signed, [n.node_id for n, _ in plan])
    if missing:  # they would refuse it: not sent, and no use spent
        raise refuse(svc, who, row, WarrantRefused(
            Refusal.UNKNOWN_SIGNER, f"a key that signed {row.warrant_id} is "
            f"{pins.describe_lacking(missing)}"), 409)
    checkpoint = witnessed_checkpoint(svc)
    with svc.session() as session:
        # an UPDATE returns a CursorResult (rowcount); execute() is typed for SELECT
        spent = cast(CursorResult[Any], session.execute(update(WarrantRow).where(
            WarrantRow.warrant_id == row.warrant_id,
            WarrantRow.uses < signed.warrant.max_uses).values(uses=WarrantRow.uses + 1)))
        if spent.rowcount != 1:
            raise refuse(svc, who, row, WarrantRefused(Refusal.USED_UP, "all uses are spent"))
    index = svc.log(Event(
        actor=who.actor, action=Action.QUERY_DISPATCHED,
        **under(signed.warrant.basis, row.warrant_id),
        purpose_code=signed.warrant.purpose_code,
        scope=Scope(sites=tuple(sorted({n.site_id for n, _ in plan})), cameras=tuple(cameras),
                    window=LogWindow(start=rfc3339(window.start), end=rfc3339(window.end))),
        outcome="dispatched", recipients=tuple(n.node_id for n, _ in plan),
        details={"query_id": query_id, "user": who.username, "targets": targets,
                 "reference_sha256": reference_digests}))
    assert row.registered_index is not None  # authorise() refused it otherwise
    receipt = checkpoint.receipt(svc, int(row.registered_index))
    opening = base64.b64encode(svc.audit.opening(int(row.registered_index),
                                                 "warrant_sha256")).decode()
    deadline = now + timedelta(seconds=svc.settings.query_timeout_seconds)
    with svc.session() as session:
        session.add(Query(query_id=query_id, kind=kind.value, warrant_id=row.warrant_id,
                          requested_by=who.username, purpose_code=signed.warrant.purpose_code,
                          cameras=cameras, window_start=window.start, window_end=window.end,
                          target_count=len(targets), dispatched_index=index, created_at=now,
                          deadline=deadline))
        session.flush()
        for node, _ in plan:
            session.add(QueryNode(query_id=query_id, node_id=node.node_id,
                                  task_id=task_id(query_id, node.node_id),
                                  status=Status.PENDING.value, disclosed=False))
    send_parts(svc, QUERY_TASK, query_id, QueryNode, (
        (node.node_id, build_query(
            svc.keys.dispatch, query_id=query_id, node_id=node.node_id, site=node.site_id,
            sealing_key=node.sealing_key, kind=kind, cameras=node_cameras, window=window,
            issued_at=now, warrant=signed, receipt=receipt, opening=opening, targets=targets,
            references=references,
            consistency=checkpoint.consistency(svc, held_size(svc, node.node_id))))
        for node, node_cameras in plan))
    log.info("%s query dispatched to %d node(s)", kind.value, len(plan))
    return view(svc, query_id, who)


def _basis(svc: Coordinator, query: Query) -> dict[str, Any]:
    """The legal-basis fields for events about ``query`` (a warrant's or a consent's)."""
    with svc.session() as session:
        return under(session.get_one(WarrantRow, query.warrant_id).basis, query.warrant_id)


def _collect(svc: Coordinator, query: Query) -> None:
    """Read the answers that have arrived; mark nodes past the deadline unreachable."""
    now = svc.clock()
    with svc.session() as session:
        parts = session.scalars(select(QueryNode).where(
            QueryNode.query_id == query.query_id,
            QueryNode.status == Status.PENDING.value)).all()
        keys = {n.node_id: n.identity_key for n in session.scalars(
            select(Node).where(Node.node_id.in_([p.node_id for p in parts])))}
    for part in parts:
        answer = collect(svc.dispatcher, part.task_id, as_utc(query.deadline), now)
        if answer is None:
            continue
        reason: str | None  # a node's own answer may leave these out
        detail: str | None
        result: dict[str, Any] | None
        if answer is TIMED_OUT:
            status, reason, detail, result = (Status.UNREACHABLE, "timeout",
                                              "no answer before the deadline", None)
        else:
            status, reason, detail, result = _check_answer(svc, answer, query.query_id,
                                                           part.node_id, keys[part.node_id])
            svc.metrics.query_answer_seconds.labels(query.kind).observe(
                (now - as_utc(query.created_at)).total_seconds())
        hits = len(result["result"]["hits"]) if result else 0
        svc.log(Event(actor=svc.actor("coordinator", "system", "city"),
                      action=Action.QUERY_ANSWERED, **_basis(svc, query),
                      purpose_code=query.purpose_code,
                      outcome=status.value, counts_returned=hits,
                      details={"query_id": query.query_id, "node_id": part.node_id,
                               "reason": reason}))
        with svc.session() as session:
            row = session.get_one(QueryNode, (query.query_id, part.node_id))
            row.status, row.reason, row.detail, row.result = status.value, reason, detail, result
            row.answered_at = now
    _return_use(svc, query)


def _return_use(svc: Coordinator, query: Query) -> None:
    """A query every node refused (or that reached none) searched nothing: its use of the
    warrant is given back, once. A node that answered, timed out or failed may have searched,
    so any of those keeps the use spent."""
    with svc.session() as session:
        parts = session.execute(select(QueryNode.status, QueryNode.reason).where(
            QueryNode.query_id == query.query_id)).all()
        if not parts or not all(s == Status.REFUSED.value or (
                s == Status.FAILED.value and r == "broker_unavailable") for s, r in parts):
            return
        # an UPDATE returns a CursorResult (rowcount); execute() is typed for SELECT
        returned = cast(CursorResult[Any], session.execute(update(Query).where(
            Query.query_id == query.query_id, Query.use_returned.is_(False))
            .values(use_returned=True)))
        if returned.rowcount != 1:
            return
        session.execute(update(WarrantRow).where(
            WarrantRow.warrant_id == query.warrant_id, WarrantRow.uses > 0)
            .values(uses=WarrantRow.uses - 1))
    svc.log(Event(actor=svc.actor("coordinator", "system", "city"),
                  action=Action.WARRANT_USED, **_basis(svc, query),
                  purpose_code=query.purpose_code, outcome="use_returned",
                  details={"query_id": query.query_id,
                           "reasons": sorted({str(r) for _, r in parts})}))


def _check_answer(svc: Coordinator, answer: dict[str, Any], query_id: str, node_id: str,
                  key: str) -> tuple[Status, str | None, str | None, dict[str, Any] | None]:
    if "failed" in answer:
        return Status.FAILED, "node_error", str(answer["failed"]), None
    try:
        signed = open_result(answer, svc.keys.sealing, query_id, node_id)
    except (ValidationError, SafecityError, ValueError):
        return (Status.FAILED, "bad_answer", "the node's answer is not a sealed signed result",
                None)
    result = signed.result
    if (not result.signed_by(VerifyKey.parse(key), signed.signature)
            or result.query_id != query_id or result.node_id != node_id):
        return Status.FAILED, "bad_signature", "the answer is not signed by this node", None
    if result.log_size is not None:
        note_log_size(svc, node_id, result.log_size)
    return result.status, result.reason, result.detail, signed.model_dump(mode="json")


def _confirmations(svc: Coordinator, query_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    with svc.session() as session:
        rows = session.scalars(select(Confirmation).where(
            Confirmation.query_id == query_id)).all()
    state: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        entry = state.setdefault((row.node_id, row.sighting_id),
                                 {"match": 0, "no_match": 0})
        entry[row.decision] += 1
    for entry in state.values():
        entry["status"] = ("rejected" if entry["no_match"] else
                           "confirmed" if entry["match"] >= CONFIRMATIONS else "unconfirmed")
    return state


def view(svc: Coordinator, query_id: str, who: Principal) -> dict[str, Any]:
    """A query as ``who`` may see it; the first sight of a hit is logged as a disclosure."""
    with svc.session() as session:
        query = session.get_one(Query, query_id)
        parts = session.scalars(select(QueryNode).where(QueryNode.query_id == query_id)
                                .order_by(QueryNode.node_id)).all()
        sites = dict(session.execute(select(Node.node_id, Node.site_id)).all())
    requester = who.username == query.requested_by
    face = query.kind == Kind.FACE_WATCHLIST
    # Face matches are shown to the people who must confirm them; plate hits to the requester.
    sees_hits = requester or (face and allows(who.role, Permission.MATCH_CONFIRM))
    confirmations = _confirmations(svc, query_id) if face else {}
    nodes: list[dict[str, Any]] = []
    hits, undisclosed = [], []
    for part in parts:
        found = part.result["result"]["hits"] if part.result else []
        nodes.append({"node_id": part.node_id, "site_id": sites.get(part.node_id),
                      "status": part.status, "reason": part.reason, "detail": part.detail,
                      "hits": len(found)})
        if sees_hits:
            for hit in found:
                shown = {"node_id": part.node_id, "site_id": sites.get(part.node_id), **hit}
                if face:
                    shown["confirmation"] = confirmations.get(
                        (part.node_id, hit["sighting_id"]),
                        {"match": 0, "no_match": 0, "status": "unconfirmed"})
                hits.append(shown)
            if found and not part.disclosed:
                undisclosed.append(part.node_id)
    if undisclosed:
        count = sum(n["hits"] for n in nodes if n["node_id"] in undisclosed)
        svc.log(Event(actor=who.actor, action=Action.DISCLOSURE, **_basis(svc, query),
                      purpose_code=query.purpose_code,
                      outcome="disclosed", counts_returned=count,
                      recipients=(who.actor.pseudonym,),
                      details={"query_id": query_id, "nodes": undisclosed}))
        with svc.session() as session:
            for node_id in undisclosed:
                session.get_one(QueryNode, (query_id, node_id)).disclosed = True
    done = all(Status(n["status"]) in FINAL for n in nodes)
    view = {"query_id": query_id, "kind": query.kind, "warrant_id": query.warrant_id,
            "status": "complete" if done else "pending", "targets": query.target_count,
            "created_at": as_utc(query.created_at).isoformat(),
            "deadline": as_utc(query.deadline).isoformat(), "nodes": nodes}
    if sees_hits:
        view["hits"] = hits
    if face:
        view["confirmed_hits"] = sum(1 for c in confirmations.values()
                                     if c["status"] == "confirmed")
    return view


def confirm(svc: Coordinator, who: Principal, query_id: str, node_id: str, sighting_id: str,
            decision: str) -> dict[str, Any]:
    """One person's decision on a face match (``match`` or ``no_match``), logged first; the
    match's confirmation state."""
    with svc.session() as session:
        query = session.get(Query, query_id)
        part = session.get(QueryNode, (query_id, node_id))
    if (query is None or query.kind != Kind.FACE_WATCHLIST or part is None or not part.result
            or (who.role == Role.POLICE and query.requested_by != who.username)):
        raise not_found(f"face match {sighting_id} of query {query_id}")
    if sighting_id not in {h["sighting_id"] for h in part.result["result"]["hits"]}:
        raise not_found(f"face match {sighting_id} of query {query_id}")
    with svc.session() as session:
        if session.get(Confirmation, (query_id, node_id, sighting_id, who.username)):
            raise Problem(409, "Conflict", "you have already decided on this match; a second "
                          "person must confirm it", "already_decided")
        first = session.scalars(select(Confirmation).where(
            Confirmation.query_id == query_id, Confirmation.node_id == node_id,
            Confirmation.sighting_id == sighting_id)).first()
        earlier = session.get(User, first.username) if first else None
        second = (svc.actor(earlier.username, earlier.role, earlier.agency)
                  if earlier is not None else None)
    svc.log(Event(actor=who.actor, second_approver=second, action=Action.MATCH_CONFIRMED,
                  **_basis(svc, query),
                  purpose_code=query.purpose_code, outcome=decision,
                  details={"query_id": query_id, "node_id": node_id,
                           "sighting_id": sighting_id, "user": who.username}))
    with svc.session() as session:
        session.add(Confirmation(query_id=query_id, node_id=node_id, sighting_id=sighting_id,
                                 username=who.username, decision=decision,
                                 at=svc.clock()))
    return _confirmations(svc, query_id)[(node_id, sighting_id)]


def read(svc: Coordinator, who: Principal, query_id: str, wait: float) -> dict[str, Any]:
    """Collect the answers that have arrived (for up to ``wait`` seconds while some are
    pending) and the query as ``who`` may see it."""
    QUERY_ID.set(query_id[:64])
    until = time.monotonic() + wait
    while True:
        with svc.session() as session:
            query = session.get(Query, query_id)
        if query is None or (who.role == Role.POLICE and query.requested_by != who.username):
            raise not_found(f"query {query_id}")
        _collect(svc, query)
        with svc.session() as session:
            pending = session.scalar(select(QueryNode).where(
                QueryNode.query_id == query_id, QueryNode.status == Status.PENDING.value))
        if pending is None or time.monotonic() >= until:
            return view(svc, query_id, who)
        time.sleep(0.2)


def listed(svc: Coordinator, who: Principal) -> list[dict[str, Any]]:
    """The newest queries: a police officer's own, or all."""
    with svc.session() as session:
        query = select(Query).order_by(Query.created_at.desc()).limit(200)
        if who.role == Role.POLICE:
            query = query.where(Query.requested_by == who.username)
        return [{"query_id": q.query_id, "warrant_id": q.warrant_id, "kind": q.kind,
                 "created_at": as_utc(q.created_at).isoformat()} for q in session.scalars(query)]
