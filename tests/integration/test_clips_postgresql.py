"""Evidence clips on the production stack: an operator's request, logged in PostgreSQL, is
signed and sent by `safecity coordinator worker` (a separate process) over a real Redis
broker once the witnesses cosigned its entry; the node's frames come back on the pictures'
queue, are checked and kept once each (a frame sent twice, a forged frame refused and logged),
and the control room sees the clip."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from contract.tasks import CLIP_TASK, LIVE_QUEUE
from coordinator import denials
from coordinator.clip_requests import send_clip_request
from coordinator.db import EvidenceClipLook
from coordinator.errors import ClipRejected
from coordinator.evidence_clips import accept_clip
from nodes.event_sender import celery_publisher
from privacy.signing import SigningKey
from tests.support.clip_frames import clip_frame, racing_first_looks, with_evidence
from tests.support.world import World

REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")
BROKER, RESULTS = f"{REDIS}/13", f"{REDIS}/14"


@pytest.fixture
def city(tmp_path: Path, postgres_url: str) -> Iterator[World]:
    world = World(tmp_path, postgres_url, BROKER, RESULTS)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def until(world: World, alert_id: int, done: Any, what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        clip = world.client.get(f"/alerts/{alert_id}/clip",
                                headers=world.as_("operator")).json()
        if done(clip):
            return clip
        time.sleep(0.3)
    raise AssertionError(f"{what}: {clip}\n"
                         + (world.root / "coordinator-worker.log").read_text(errors="replace"))


def test_a_clip_request_through_the_worker_and_its_frames_back(city: World) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    alert_id, _, seq = with_evidence(city, start)
    publish, close = celery_publisher(BROKER, CLIP_TASK, LIVE_QUEUE)
    try:
        city.start_coordinator_worker()
        response = city.client.post(f"/alerts/{alert_id}/clip", headers=city.as_("operator"))
        assert response.status_code == 202, response.text
        request_id = response.json()["request_id"]
        until(city, alert_id, lambda c: c["state"] == "sent", "the request was not sent")
        frames = [clip_frame(city, request_id, seq, i, 4, start) for i in range(4)]
        for body in (*frames, frames[1],
                     clip_frame(city, request_id, seq, 0, 4, start, key=SigningKey.generate())):
            publish(body)
        clip = until(city, alert_id, lambda c: len(c["received"]) == 4,
                     "the frames were not kept")
        assert clip["state"] == "received" and clip["frames"] == 4
        assert [f["index"] for f in clip["received"]] == [0, 1, 2, 3]
        deadline = time.monotonic() + 30
        # signed by no enrolled node: counted for the interval's entry, not logged alone
        while not denials.pending(city.svc).get((denials.OTHER, "evidence_clip_rejected")):
            assert time.monotonic() < deadline, "the forged frame was not refused"
            time.sleep(0.3)
        picture = city.client.get(f"/alerts/{alert_id}/clips/{request_id}/2.jpg",
                                  headers=city.as_("operator"))
        assert picture.status_code == 200 and picture.content[:3] == b"\xff\xd8\xff"
    finally:
        close()


def test_simultaneous_asks_for_one_clip_log_and_send_one_request(city: World) -> None:
    """The alert's row lock holds from the check to the insert: one ask logs and stores the
    request, the others answer with it and log nothing."""
    callers = 6
    alert_id, _, _ = with_evidence(city, datetime.now(UTC) - timedelta(minutes=1))
    headers, start = city.as_("operator"), city.svc.audit.size()
    gate = threading.Barrier(callers)
    answers: list[tuple[int, str]] = []
    # FastAPI 0.138 fills an included router's route cache on its first request without a lock;
    # TestClient runs each thread's request on its own event loop, so six first requests at once
    # can find it half-built (a routing 404). Uvicorn matches routes on one loop, so the race is
    # the test harness's alone: warm the cache, then race the database lock under test.
    unasked = city.client.get(f"/alerts/{alert_id}/clip", headers=headers)
    assert unasked.status_code == 404 and "clip request" in unasked.json()["detail"]

    def ask() -> None:
        gate.wait()
        response = city.client.post(f"/alerts/{alert_id}/clip", headers=headers)
        answers.append((response.status_code, response.json()["request_id"]))

    threads = [threading.Thread(target=ask) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logged = [e for e in city.svc.audit.entries(start, 100)
              if e.record.outcome == "evidence_clip_requested"]
    assert sorted(code for code, _ in answers) == [200] * (callers - 1) + [202]
    assert len(logged) == 1 and {rid for _, rid in answers} == {logged[0].record.event_id}


def test_tabs_fetching_a_clip_at_once_log_one_look(city: World) -> None:
    """The look's row is claimed before the entry is logged: the other tabs' claims wait on
    it, fail once it is committed, and serve the frame; one ``evidence_clip_viewed``."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    alert_id, _, seq = with_evidence(city, start)
    request_id = city.client.post(f"/alerts/{alert_id}/clip",
                                  headers=city.as_("operator")).json()["request_id"]
    assert send_clip_request(city.svc, request_id) == "sent"
    assert accept_clip(city.svc, clip_frame(city, request_id, seq, 0, 1, start,
                                            event_index=0)) == "stored"
    looks = racing_first_looks(city, alert_id, request_id, city.svc.audit.size(), tabs=4)
    assert len(looks) == 1
    with city.svc.session() as session:
        assert session.scalar(select(func.count()).select_from(EvidenceClipLook)) == 1


def test_a_request_over_is_superseded_for_good_and_its_late_frames_refused(
        city: World) -> None:
    """On PostgreSQL's row locks: never sent past its deadline, the request reads ``unsent``;
    the new ask stores that end under the old request's lock, the worker no longer sends it,
    and a late frame for it is refused, never joining the new clip."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    alert_id, _, seq = with_evidence(city, start)
    headers = city.as_("operator")
    old = city.client.post(f"/alerts/{alert_id}/clip", headers=headers).json()["request_id"]
    city.set_time(datetime.now(UTC) + timedelta(
        seconds=city.settings.evidence_clip_wait_seconds + 5))
    headers = city.as_("operator")
    assert city.client.get(f"/alerts/{alert_id}/clip", headers=headers).json()["state"] == (
        "unsent")
    newer = city.client.post(f"/alerts/{alert_id}/clip", headers=headers)
    assert newer.status_code == 202 and newer.json()["request_id"] != old
    assert send_clip_request(city.svc, old) == "unsent"
    with pytest.raises(ClipRejected, match="is unsent"):
        accept_clip(city.svc, clip_frame(city, old, seq, 0, 1, start, event_index=0))
    assert send_clip_request(city.svc, newer.json()["request_id"]) == "sent"
    clip = city.client.get(f"/alerts/{alert_id}/clip", headers=headers).json()
    assert (clip["request_id"], clip["state"], clip["received"]) == (
        newer.json()["request_id"], "sent", [])
