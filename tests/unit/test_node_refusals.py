"""The node is the enforcement point: a coordinator that skips every check of its own (it holds
the dispatch key and signs whatever it likes) still gets nothing past a node's checks.

Messages are built here as such a coordinator would and handed to the node's query service, the
same code its Celery worker runs (the worker processes are exercised in test_watchlist_e2e.py).
Every refusal is signed, carries its reason code, and is an entry in the node's own audit log.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from audit.checkpoint import Checkpoint
from audit.keys import new_log_key
from audit.note import parse_note
from audit.prove import make_receipt
from audit.records import Action
from contract.queries import (
    QueryRequest,
    Revocation,
    SignedQuery,
    SignedResult,
    SignedRevocation,
)
from contract.warrants import SignedWarrant, Window, key_id, sign
from coordinator.db import Warrant as WarrantRow
from coordinator.node_log_heads import consistency_for
from coordinator.query_messages import build_query, open_result
from nodes.identity import load_identity
from privacy.signing import SigningKey
from tests.support.world import CAMERAS, T0, World, embedded_world


@pytest.fixture
def world(tmp_path):
    w = embedded_world(tmp_path)
    w.add_node("alpha", "site-a")
    node = w.service("alpha")
    node.sightings.add("gate", T0 - timedelta(days=1), 1, "AB12CDE", b"\xff\xd8thumb")
    node.sightings.add("gate", T0 - timedelta(days=1), 2, "QQ77QQQ")
    node.sightings.add("lobby", T0 - timedelta(days=9), 3, "AB12CDE")  # outside the window
    yield w
    w.close()


def stored(world: World, warrant_id: str) -> tuple[SignedWarrant, int]:
    with world.svc.session() as session:
        row = session.get(WarrantRow, warrant_id)
        return SignedWarrant.model_validate(row.document), row.registered_index


def rogue(world: World, warrant: SignedWarrant, index: int | None, *, targets=("AB12CDE",),
          cameras=CAMERAS, window: Window | None = None, issued_at: datetime | None = None,
          query_id: str | None = None, key: SigningKey | None = None,
          node: str = "alpha", references: dict[str, str] | None = None) -> dict[str, Any]:
    svc = world.svc
    index = index if index is not None else 0
    enrolled = world.nodes[node]
    witnessed = svc.witnessing.witnessed()
    held = world.service(node).log_head.held()
    message = build_query(
        key or svc.keys.dispatch, query_id=query_id or str(uuid.uuid4()),
        node_id=enrolled.node_id, site=enrolled.settings.site_id,
        sealing_key=load_identity(enrolled.settings.keys_dir).public()["sealing_key"],
        kind=warrant.warrant.kind, cameras=list(cameras),
        window=window or warrant.warrant.window, issued_at=issued_at or world.clock(),
        warrant=warrant, receipt=make_receipt(svc.audit, index, witnessed).to_json(),
        consistency=consistency_for(svc, held.size if held else 0, size_of(witnessed)),
        opening=base64.b64encode(svc.audit.opening(index, "warrant_sha256")).decode()
        if svc.audit.entry(index).record.action is Action.WARRANT_REGISTERED
        else base64.b64encode(b"\0" * 32).decode(),
        targets=list(targets), references=references)
    return message.model_dump(mode="json")


def size_of(checkpoint: str) -> int:
    return Checkpoint.from_text(parse_note(checkpoint).text).size


def _query_id(message: dict[str, Any]) -> str:
    value = message.get("request", {}).get("query_id")
    return value if isinstance(value, str) else "unknown"


def answer(world: World, message: dict[str, Any], node: str = "alpha") -> SignedResult:
    result = open_result(world.service(node).queries.answer(message), world.svc.keys.sealing,
                         _query_id(message), world.nodes[node].node_id)
    identity = world.service(node).identity.signing.public
    assert result.result.signed_by(identity, result.signature)
    return result


def refused(world: World, message: dict[str, Any]) -> str:
    result = answer(world, message).result
    assert result.status == "refused" and not result.hits
    entry = world.service("alpha").audit.entry(result.node_log_index).record
    assert entry.action is Action.WARRANT_REFUSED and entry.outcome == result.reason
    return result.reason


def test_a_valid_query_is_answered_inside_its_scope_only(world: World) -> None:
    warrant = world.registered()
    signed, index = stored(world, warrant["warrant_id"])
    result = answer(world, rogue(world, signed, index, targets=("AB12CDE", "XY99ZZZ"))).result
    assert result.status == "answered"
    assert [(h.target, h.camera) for h in result.hits] == [("AB12CDE", "gate")]
    assert base64.b64decode(result.hits[0].thumbnail) == b"\xff\xd8thumb"
    assert result.searched == 2  # the sighting 9 days back lies outside the window
    entry = world.service("alpha").audit.entry(result.node_log_index).record
    assert entry.action is Action.QUERY_ANSWERED and entry.counts_returned == 1


def test_unsigned_warrant(world: World) -> None:
    draft = world.draft()
    signed, _ = stored(world, draft["warrant_id"])
    other = world.registered()
    assert refused(world, rogue(world, signed, other["registered_index"])) == "unsigned"


def test_warrant_signed_by_a_key_the_node_did_not_pin(world: World) -> None:
    draft = world.draft()
    signed, _ = stored(world, draft["warrant_id"])
    forged = signed.model_copy(update={"judge": sign(signed.warrant, SigningKey.generate())})
    other = world.registered()
    assert refused(world, rogue(world, forged, other["registered_index"])) == "unknown_signer"


def test_expired_and_not_yet_valid(world: World) -> None:
    warrant = world.registered()
    signed, index = stored(world, warrant["warrant_id"])
    world.set_time(T0 + timedelta(days=3))
    assert refused(world, rogue(world, signed, index)) == "expired"
    world.set_time(T0 - timedelta(hours=2))
    assert refused(world, rogue(world, signed, index)) == "not_yet_valid"


def test_revoked_by_a_pinned_judge_only(world: World) -> None:
    warrant = world.registered()
    signed, index = stored(world, warrant["warrant_id"])
    body = Revocation(warrant_id=warrant["warrant_id"], revoked_at=world.clock(),
                      reason="case-closed")
    stranger = SigningKey.generate()
    forged = SignedRevocation(revocation=body, key_id=key_id(stranger.public),
                              signature=body.sign(stranger))
    revocations = world.service("alpha").revocations
    assert revocations.answer(forged.model_dump(mode="json"))["recorded"] is False
    assert answer(world, rogue(world, signed, index)).result.status == "answered"
    genuine = SignedRevocation(revocation=body, key_id=key_id(world.judge_key.public),
                               signature=body.sign(world.judge_key))
    assert revocations.answer(genuine.model_dump(mode="json"))["recorded"] is True
    assert refused(world, rogue(world, signed, index)) == "revoked"


def test_out_of_scope_camera_time_and_target(world: World) -> None:
    warrant = world.registered()
    signed, index = stored(world, warrant["warrant_id"])
    assert refused(world, rogue(world, signed, index, cameras=("gate", "vault-door"))) \
        == "out_of_scope_camera"
    later = Window(start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    assert refused(world, rogue(world, signed, index, window=later)) == "out_of_scope_time"
    assert refused(world, rogue(world, signed, index, targets=("QQ77QQQ",))) \
        == "out_of_scope_target"


def test_used_beyond_its_maximum(world: World) -> None:
    warrant = world.registered(max_uses=2)
    signed, index = stored(world, warrant["warrant_id"])
    for _ in range(2):
        assert answer(world, rogue(world, signed, index)).result.status == "answered"
    assert refused(world, rogue(world, signed, index)) == "used_up"
    assert world.service("alpha").ledger.uses(warrant["warrant_id"]) == 2


def test_replayed_messages(world: World) -> None:
    warrant = world.registered(max_uses=5)
    signed, index = stored(world, warrant["warrant_id"])
    first = rogue(world, signed, index)
    answered = world.service("alpha").queries.answer(first)
    # A broker redelivering the same message gets the same answer: no second search, no use.
    assert world.service("alpha").queries.answer(first) == answered
    assert world.service("alpha").ledger.uses(warrant["warrant_id"]) == 1
    # The same query id with other contents, or a message older than the node accepts.
    query_id = first["request"]["query_id"]
    assert refused(world, rogue(world, signed, index, query_id=query_id,
                                targets=("XY99ZZZ",))) == "replayed"
    stale = world.clock() - timedelta(hours=1)
    assert refused(world, rogue(world, signed, index, issued_at=stale)) == "replayed"
    assert world.service("alpha").ledger.uses(warrant["warrant_id"]) == 1


def test_not_in_the_audit_log(world: World) -> None:
    draft = world.draft()
    signed, _ = stored(world, draft["warrant_id"])
    judged = signed.model_copy(update={"judge": sign(signed.warrant, world.judge_key)})
    other = world.registered()  # a real receipt, but for another warrant
    assert refused(world, rogue(world, judged, other["registered_index"])) == "not_in_log"
    assert refused(world, rogue(world, judged, 0)) == "not_in_log"  # not a registration


def test_a_log_checkpoint_not_signed_by_the_pinned_log_key(world: World) -> None:
    warrant = world.registered()
    signed, index = stored(world, warrant["warrant_id"])
    message = rogue(world, signed, index)
    impostor = new_log_key(world.settings.origin, world.root / "impostor.key")
    note = message["request"]["warrant_receipt"]["checkpoint"]
    body = note.split("\n\n")[0] + "\n"
    message["request"]["warrant_receipt"]["checkpoint"] = impostor.sign(body).format()
    request = QueryRequest.model_validate(message["request"])
    resigned = SignedQuery(request=request, signature=request.sign(world.svc.keys.dispatch))
    assert refused(world, resigned.model_dump(mode="json")) == "not_in_log"


def test_messages_not_from_the_pinned_coordinator_or_for_another_node(world: World) -> None:
    warrant = world.registered()
    signed, index = stored(world, warrant["warrant_id"])
    assert refused(world, rogue(world, signed, index, key=SigningKey.generate())) \
        == "bad_message"
    message = rogue(world, signed, index)
    message["request"]["cameras"] = ["gate"]  # altered in transit
    assert refused(world, message) == "bad_message"
    assert refused(world, {"request": {"query_id": "x"}, "signature": "?"}) == "bad_message"
    assert world.service("alpha").ledger.uses(warrant["warrant_id"]) == 0
