"""Changing whom the nodes trust: a judge appointed after the sites enrolled reaches them only
through an update signed by the authorities they already pin, logged, applied by each node and
acknowledged; until a node has acknowledged a key, the coordinator neither registers nor sends
a warrant signed with it; a node's refusal never spends one of the warrant's uses.

The update path runs on the production stack (PostgreSQL, Redis, `safecity node worker`
processes); the node's own checks are also driven in process, as a compromised coordinator
holding the broker would drive them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from audit.records import Action
from contract.pins import PinAck, PinChange, PinSignature, PinUpdate, SignedPinAck, pinned_sha256
from contract.warrants import key_id, sign
from coordinator.db import PinAckRow
from coordinator.db import Warrant as WarrantRow
from coordinator.roles import Role
from coordinator.services.requests import NewUser
from coordinator.services.users import create_user
from nodes.enrolment import enrolment_file, load_enrolment
from privacy.signing import SigningKey
from tests.support.world import T0, World, embedded_world
from tests.unit.test_node_refusals import answer, rogue, stored

PASSWORD = "correct horse battery staple"


def appoint(world: World, username: str, role: Role = Role.JUDGE) -> SigningKey:
    """A judge (or DPO) registered at the coordinator, after the nodes enrolled."""
    key = SigningKey.generate()
    create_user(world.svc, NewUser(username=username, role=role, agency="court",
                                   password=PASSWORD, signing_key=key.public.text()),
                world.svc.actor("admin", Role.ADMIN.value, "city"))
    return key


def uses(world: World, warrant_id: str) -> int:
    with world.svc.session() as session:
        return session.get(WarrantRow, warrant_id).uses


# -- the node's own checks, driven in process ------------------------------------------------

@pytest.fixture
def world(tmp_path):
    w = embedded_world(tmp_path)
    w.add_node("alpha", "site-a")
    w.service("alpha").sightings.add("gate", T0 - timedelta(days=1), 1, "AB12CDE", None)
    yield w
    w.close()


def update_for(world: World, sequence: int = 1, previous: str | None = None,
               **changes: Any) -> PinUpdate:
    enrolment = world.service("alpha").enrolment
    change = PinChange(**({"role": "judge"} | changes))
    return PinUpdate(sequence=sequence,
                     previous_sha256=previous or pinned_sha256(enrolment.pinned()),
                     changes=(change,), reason="judge-appointed", issued_at=world.clock())


def signed_by(update: PinUpdate, *keys: SigningKey) -> dict[str, Any]:
    return {"update": update.model_dump(mode="json"),
            "signatures": [PinSignature(key_id=key_id(k.public), signature=update.sign(k))
                           .model_dump(mode="json") for k in keys]}


def acknowledged(world: World, message: Any) -> PinAck:
    signed = SignedPinAck.model_validate(world.service("alpha").pin_updates.answer(message))
    assert signed.ack.signed_by(world.service("alpha").identity.signing.public,
                                signed.signature)
    return signed.ack


def test_an_update_the_pinned_quorum_did_not_sign_changes_nothing(world: World) -> None:
    path = enrolment_file(world.nodes["alpha"].settings.data_dir)
    original = path.read_bytes()
    newcomer, stranger = SigningKey.generate(), SigningKey.generate()
    adds = update_for(world, add=(newcomer.public.text(),))
    cases = {
        "quorum": signed_by(adds, world.judge_key),  # one pinned authority of two
        "unknown_signer": signed_by(adds, world.judge_key, stranger),
        "wrong_base": signed_by(update_for(world, previous="0" * 64,
                                           add=(newcomer.public.text(),)),
                                world.judge_key, world.dpo_key),
        "out_of_order": signed_by(update_for(world, sequence=2, add=(newcomer.public.text(),)),
                                  world.judge_key, world.dpo_key),
        "unusable": signed_by(update_for(world, role="dpo",
                                         retire=(world.dpo_key.public.text(),)),
                              world.judge_key, world.dpo_key),  # would leave no DPO
        "bad_message": {"update": {"sequence": 1}, "signatures": []},
    }
    for reason, message in cases.items():
        ack = acknowledged(world, message)
        assert (ack.applied, ack.reason, ack.sequence) == (False, reason, 0), (reason, ack)
        assert path.read_bytes() == original, reason
    # The newcomer cannot sign warrants the node accepts.
    assert world.service("alpha").enrolment.judge_keys == (world.judge_key.public.text(),)

    valid = signed_by(adds, world.judge_key, world.dpo_key)
    ack = acknowledged(world, valid)
    assert ack.applied and ack.sequence == 1
    assert ack.pinned_sha256 == pinned_sha256(load_enrolment(path.parent).pinned())
    applied_bytes = path.read_bytes()
    # Delivered again, or an older update replayed to roll it back: refused, nothing changes.
    rollback = signed_by(update_for(world, previous=adds.previous_sha256,
                                    retire=(world.judge_key.public.text(),)),
                         world.judge_key, world.dpo_key)
    for message in (valid, rollback):
        ack = acknowledged(world, message)
        assert (ack.applied, ack.reason, ack.sequence) == (False, "replayed", 1)
        assert path.read_bytes() == applied_bytes
    outcomes = [e.record.outcome for e in world.service("alpha").audit.entries(0, 1000)
                if e.record.action is Action.CONFIG_CHANGE]
    assert outcomes == ["pins_refused"] * 6 + ["pins_updated"] + ["pins_refused"] * 2


def test_the_node_answers_a_newly_pinned_judge_and_refuses_a_retired_one(world: World) -> None:
    newcomer = appoint(world, "judge-2")
    warrant = world.draft()
    signed, _ = stored(world, warrant["warrant_id"])
    by_newcomer = signed.model_copy(update={"judge": sign(signed.warrant, newcomer)})
    receipt = world.registered()["registered_index"]  # any receipt: the signer fails first
    assert answer(world, rogue(world, by_newcomer, receipt)).result.reason == "unknown_signer"
    adds = update_for(world, add=(newcomer.public.text(),))
    assert acknowledged(world, signed_by(adds, world.judge_key, world.dpo_key)).applied
    old = world.registered()
    old_signed, old_index = stored(world, old["warrant_id"])
    assert answer(world, rogue(world, old_signed, old_index)).result.status == "answered"
    retire = update_for(world, sequence=2, retire=(world.judge_key.public.text(),))
    assert acknowledged(world, signed_by(retire, newcomer, world.dpo_key)).applied
    result = answer(world, rogue(world, old_signed, old_index)).result
    assert (result.status, result.reason) == ("refused", "unknown_signer")


def test_a_refusal_after_the_use_was_counted_gives_it_back(world: World) -> None:
    warrant = world.registered(kind="evidence_export", max_uses=1, targets=["ref-1"])
    signed, index = stored(world, warrant["warrant_id"])
    for _ in range(2):  # a watchlist node refuses an export: nothing searched, nothing spent
        result = answer(world, rogue(world, signed, index, targets=("ref-1",))).result
        assert (result.status, result.reason) == ("refused", "wrong_kind")
    assert world.service("alpha").ledger.uses(warrant["warrant_id"]) == 0


def test_a_query_is_not_sent_to_a_node_whose_pins_the_coordinator_does_not_know(
        world: World) -> None:
    warrant = world.registered()
    with world.svc.session() as session:  # a node enrolled before acknowledgements were kept
        session.execute(delete(PinAckRow))
    submitted = world.client.post("/queries", headers=world.as_("police"), json={
        "warrant_id": warrant["warrant_id"], "targets": ["AB12CDE"]})
    assert submitted.status_code == 409, submitted.text
    assert world.nodes["alpha"].node_id in submitted.json()["detail"]
    assert uses(world, warrant["warrant_id"]) == 0
    refusal = world.svc.audit.entry(world.svc.audit.size() - 1).record
    assert refusal.action is Action.WARRANT_REFUSED and refusal.outcome == "unknown_signer"
