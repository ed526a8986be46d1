"""Finding (high, attacker a: a compromised coordinator holding the dispatch key and the
broker): a node sends the clip of an event for an audit entry logged long BEFORE that event
existed, and the public part of that entry need not say who asked or which camera.

``nodes.clip_checks.check_logged_request`` checks that the receipt's entry is in the witnessed
log, is a ``consultation`` with outcome ``evidence_clip_requested``, and that its committed
details open to the request's id, node, camera, seq and requester. It never looks at the
entry's ``time`` (nor at the checkpoint's age), nor at its public ``actor`` or ``scope``.
Freshness is checked on the request's ``issued_at`` only, which the coordinator signs at will.

So the coordinator can, on one quiet day, log a batch of clip-request entries for event numbers
the node has not reached yet (the node's ``seq`` is a plain counter anyone who saw alerts can
extrapolate), and weeks later pull the clip of whichever of those events turns out to interest
it, with a freshly signed request and a fresh receipt of the old entry: the public log shows no
request anywhere near the disclosure, and the entry it does show names, in public, another
actor, another site and another camera than the ones committed (and used) in its details.

This script builds the tests' city (``tests.support.world.embedded_world``: real PostgreSQL,
real witnesses), logs such an entry 30 days before the event, moves the clock on, stores event
1 of camera "gate" with its clip at the node, and hands the node's clip inbox (the code its
Celery worker runs for ``CLIP_REQUEST_TASK``) a request citing the 30-day-old entry.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_prelogged_request.py
Exit 1 = the node sent the clip (the finding), 0 = refused.
"""

from __future__ import annotations

import base64
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from audit.checkpoint import Checkpoint
from audit.note import parse_note
from audit.prove import make_receipt
from audit.records import Action, Actor, Event, LegalBasis, PublicRecord, Scope, rfc3339
from contract.evidence_clips import ClipRequest, SignedClipRequest
from coordinator.node_log_heads import consistency_for
from nodes.events import EventStore
from tests.support.world import T0, World, embedded_world
from tests.unit.test_clip_requests import clip, drain, event

OPERATOR = "op-7"  # the requester the entry commits to, in its sealed details
NAMES = ("request_id", "node_id", "camera", "seq", "requester")


def prelog(world: World, request_id: str, seq: int) -> int:
    """The entry, logged at the world's time (the log's writer takes the real clock, so the
    time is the one an entry written 30 days ago has): public actor, site and camera all
    someone else's."""
    details = {"request_id": request_id, "node_id": world.nodes["alpha"].node_id,
               "camera": "gate", "seq": seq, "requester": OPERATOR}
    return world.svc.audit.append(Event(
        actor=Actor(pseudonym="dpo-annual-review", role="dpo", agency="city"),
        action=Action.CONSULTATION, legal_basis=LegalBasis.STATUTE, time=rfc3339(world.clock()),
        outcome="evidence_clip_requested",
        scope=Scope(sites=("site-z",), cameras=("lobby",)), details=details)).index


def fresh_request(world: World, index: int, request_id: str, seq: int) -> dict[str, object]:
    """Signed now, with a receipt of the old entry under today's witnessed checkpoint."""
    svc = world.svc
    witnessed = svc.witnessing.witnessed()
    held = world.service("alpha").log_head.held()
    size = Checkpoint.from_text(parse_note(witnessed).text).size
    asked = ClipRequest(
        request_id=request_id, node_id=world.nodes["alpha"].node_id, site="site-a",
        camera="gate", seq=seq, requester=OPERATOR, issued_at=world.clock(),
        receipt=make_receipt(svc.audit, index, witnessed).to_json(),
        log_consistency=consistency_for(svc, held.size if held else 0, size),
        openings={n: base64.b64encode(svc.audit.opening(index, n)).decode() for n in NAMES})
    return SignedClipRequest(request=asked, signature=asked.sign(svc.keys.dispatch)
                             ).model_dump(mode="json")


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-prelog-")))
    try:
        world.set_time(T0 - timedelta(days=30))
        world.add_node("alpha", "site-a")
        request_id = str(uuid.uuid4())
        index = prelog(world, request_id, seq=1)  # the node has no event at all yet
        world.svc.witnessing.witnessed()  # the witnesses cosign the log holding it
        entry = PublicRecord.from_leaf(world.svc.audit.entries(index, index + 1)[0].data)

        world.set_time(T0)
        store = EventStore(world.nodes["alpha"].settings.stores.events)
        try:
            [seq] = store.add_many([event(T0 - timedelta(minutes=5))])
            store.add_clip(clip(seq, T0 - timedelta(minutes=5)))
        finally:
            store.close()
        answer = world.service("alpha").clips.answer(fresh_request(world, index, request_id,
                                                                   seq))
        frames = drain(world)
        print(f"public entry #{index}: time {entry.time}, actor {entry.actor.pseudonym} "
              f"({entry.actor.role}), scope {entry.scope.sites}/{entry.scope.cameras}")
        print(f"event {seq} of camera gate at {T0 - timedelta(minutes=5):%Y-%m-%d %H:%M}; "
              f"node answer now ({T0:%Y-%m-%d}): {answer}, {len(frames)} message(s) queued")
        found = answer["outcome"] == "evidence_clip_sent"
        print("FINDING: a clip of an event sent for an entry logged 30 days before it, whose "
              "public actor and scope name someone and somewhere else" if found else "held")
        return 1 if found else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
