"""Finding (high, attacker a: a compromised coordinator): an old, honestly logged clip request
is replayed, after the retention purge, to get the clip of a NEW event that took the old
event's number.

A clip request names the event by the node's ``seq``, the ``events`` table's
``INTEGER PRIMARY KEY`` (no ``AUTOINCREMENT``): SQLite gives a new row the largest id + 1, so
once the retention purge has deleted the newest events (a camera idle for its retention, or a
short-retention camera's events being the newest), numbers are handed out again. The node
remembers a request id only in ``clip_answers``, which ``purge_clips`` deletes after
``evidence_clip_hours``; it checks the request's own ``issued_at`` for freshness (signed by the
coordinator at will) and never the logged entry's age. So the coordinator re-signs a 40-day-old
request, same id, same entry (a fresh receipt of it under today's witnessed checkpoint), and
the node sends the clip of today's event 1: the public log's only trace is the 40-day-old
request for a different event.

(The same reuse of event numbers is worth checking on the coordinator's side too: the docs say
it recognises a batch taken twice "by its numbers".)

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_seq_reuse_replay.py
Exit 1 = the old request got the new event's clip (the finding), 0 = refused.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from audit.records import Action, Actor, Event, LegalBasis, Scope, rfc3339
from contract.evidence_clips import SignedClipFrame
from nodes.events import EventStore
from nodes.retention import purge_stores
from tests.support.world import T0, World, embedded_world
from tests.unit.test_clip_requests import OPERATOR, clip, drain, event, request


def logged_now(world: World, request_id: str, seq: int) -> int:
    """The coordinator's honest entry of the operator's request, at the world's time."""
    details = {"request_id": request_id, "node_id": world.nodes["alpha"].node_id,
               "camera": "gate", "seq": seq, "requester": OPERATOR}
    return world.svc.audit.append(Event(
        actor=Actor(pseudonym=OPERATOR, role="operator", agency="city"),
        action=Action.CONSULTATION, legal_basis=LegalBasis.STATUTE, time=rfc3339(world.clock()),
        outcome="evidence_clip_requested", scope=Scope(sites=("site-a",), cameras=("gate",)),
        details=details)).index


def store_event(world: World, at_minutes_before: int) -> int:
    when = world.clock() - timedelta(minutes=at_minutes_before)
    store = EventStore(world.nodes["alpha"].settings.stores.events)
    try:
        [seq] = store.add_many([event(when)])
        store.add_clip(clip(seq, when))
    finally:
        store.close()
    return seq


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-reuse-")))
    try:
        old = T0 - timedelta(days=40)
        world.set_time(old)
        world.add_node("alpha", "site-a")
        seq = store_event(world, 5)
        request_id = str(uuid.uuid4())
        index = logged_now(world, request_id, seq)
        first = world.service("alpha").clips.answer(request(world, index,
                                                            request_id=request_id, seq=seq))
        old_frames = drain(world)
        print(f"{old:%Y-%m-%d}: event {seq} of gate, request {request_id} logged (entry "
              f"#{index}): {first['outcome']}, {len(old_frames)} frames")

        world.set_time(T0)
        gone = purge_stores(world.nodes["alpha"].settings, world.service("alpha").audit, T0, ())
        print(f"{T0:%Y-%m-%d}: retention purge {gone}")
        new_seq = store_event(world, 5)
        print(f"{T0:%Y-%m-%d}: a new event of gate is stored as event {new_seq}")
        replay = world.service("alpha").clips.answer(request(world, index,
                                                             request_id=request_id, seq=seq))
        frames = [SignedClipFrame.model_validate(b).frame for b in drain(world) if "frame" in b]
        print(f"the 40-day-old request re-signed today: {replay}")
        if frames:
            print(f"frames sent: {len(frames)}, times {frames[0].time:%Y-%m-%d %H:%M} .. "
                  f"{frames[-1].time:%H:%M} (today's event, not the logged one)")
        found = replay["outcome"] == "evidence_clip_sent" and new_seq == seq
        print("FINDING: an old logged request replayed for a new event with a reused number"
              if found else "held")
        return 1 if found else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
