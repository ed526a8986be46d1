"""Evidence clips on request, the coordinator's side: an operator's request is logged before
anything is sent, then signed with the receipt of its own audit entry under a witnessed
checkpoint (the entry's public fields are the ones a node checks); a second request while one
is pending answers with it; bad requests are problems. Every frame a node sends is checked as
evidence is, and against the request; a frame sent twice is kept once; a signed refusal is the
request's answer. Frames are shown to the control room, an operator's first fetch of a clip
logged, and deleted with their alert."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from audit.bundle import Receipt
from audit.records import Action, opens, rfc3339
from audit.verify import verify_receipt
from contract.evidence_clips import MAX_FRAMES, ClipRefused, SignedClipRequest
from contract.tasks import CLIP_REQUEST_TASK, CLIP_TASK, LIVE_QUEUE, SEND_CLIP_REQUEST_TASK
from coordinator.clip_requests import fail, send_clip_request
from coordinator.db import AlertEvidenceClip, EvidenceClipLook, EvidenceClipRequest, Node
from coordinator.errors import ClipRejected, DispatchError, WitnessQuorumError
from coordinator.evidence_clips import accept_clip
from coordinator.housekeeping import housekeeping, purge_alerts, purge_clips
from coordinator.worker import CLIP_SEND_ATTEMPTS, worker_app
from kernel.canonical import canonical_json
from privacy.signing import SigningKey, VerifyKey
from tests.support.clip_frames import (
    clip_frame,
    frame_jpeg,
    racing_first_looks,
    refusal,
    with_evidence,
)
from tests.support.incident_events import event, send
from tests.support.page_client import HTML, browser_for
from tests.support.world import World, embedded_world

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    world = embedded_world(tmp_path)
    world.set_time(T0 + timedelta(days=1))
    world.add_node("alpha", "site-a")
    yield world
    world.close()


class Spy:
    """The dispatcher's sends, recorded as they go to the real broker."""

    def __init__(self, world: World) -> None:
        self.sent: list[tuple[str, Any, str]] = []
        dispatcher = world.svc.dispatcher
        send, enqueue = dispatcher.send, dispatcher.enqueue

        def sending(task: str, message: dict[str, Any], node_id: str, task_id: str) -> None:
            send(task, message, node_id, task_id)
            self.sent.append((task, message, node_id))

        def queueing(task: str, args: list[Any], queue: str) -> None:
            enqueue(task, args, queue)
            self.sent.append((task, args, queue))

        dispatcher.send, dispatcher.enqueue = sending, queueing  # type: ignore[method-assign]


def ask(world: World, alert_id: int, who: str = "operator") -> Any:
    return world.client.post(f"/alerts/{alert_id}/clip", headers=world.as_(who))


def test_the_request_is_logged_first_then_sent_signed_with_its_own_receipt(city: World) -> None:
    spy = Spy(city)
    alert_id, incident, seq = with_evidence(city, T0)
    start = city.svc.audit.size()
    response = ask(city, alert_id)
    assert response.status_code == 202, response.text
    clip = response.json()
    assert clip["state"] == "requested" and clip["received"] == []
    request_id = clip["request_id"]
    (entry,) = list(city.svc.audit.entries(start, 10))
    record = entry.record
    assert record.action is Action.CONSULTATION and record.outcome == "evidence_clip_requested"
    assert record.event_id == request_id and record.actor.role == "site_operator"
    node_id = city.nodes["alpha"].node_id
    sealed = {k: json.loads(v) for k, v in city.svc.audit.details(entry.index).items()}
    assert sealed == {"request_id": request_id, "node_id": node_id, "camera": "gate",
                      "seq": seq, "requester": record.actor.pseudonym,
                      "incident": str(incident), "alert": str(alert_id)}
    # queued for the worker after the entry and the row; nothing went to the node yet
    assert spy.sent == [(SEND_CLIP_REQUEST_TASK, [request_id], LIVE_QUEUE)]
    assert send_clip_request(city.svc, request_id) == "sent"
    assert send_clip_request(city.svc, request_id) == "sent"  # a redelivered task sends nothing
    (task, message, to) = spy.sent[1]
    assert len(spy.sent) == 2 and (task, to) == (CLIP_REQUEST_TASK, node_id)
    signed = SignedClipRequest.model_validate(message)
    request = signed.request
    assert request.signed_by(VerifyKey.parse(city.svc.keys.dispatch.public.text()),
                             signed.signature)
    assert (request.request_id, request.node_id, request.site, request.camera, request.seq) == (
        request_id, node_id, "site-a", "gate", seq)
    assert request.requester == record.actor.pseudonym
    # the receipt proves that very entry under a checkpoint the witnesses' quorum cosigned
    proven, _ = verify_receipt(Receipt.from_json(request.receipt),
                               city.svc.keys.log.verifier, city.svc.witnessing.keys())
    assert proven == record
    # its salts open what the entry commits to, as the node checks; the public fields name
    # the request, node, site, camera and the event's moment
    assert sorted(request.openings) == ["camera", "node_id", "request_id", "requester", "seq"]
    for name, value in (("request_id", request_id), ("node_id", node_id), ("camera", "gate"),
                        ("seq", seq), ("requester", record.actor.pseudonym)):
        assert opens(proven, name, base64.b64decode(request.openings[name]),
                     canonical_json(value)), name
    assert not opens(proven, "seq", base64.b64decode(request.openings["seq"]),
                     canonical_json(seq + 1))
    assert (record.recipients, record.scope.sites, record.scope.cameras) == (
        (node_id,), ("site-a",), ("gate",))
    assert record.scope.window is not None and record.scope.window.start == rfc3339(T0)
    # asked again while pending: the same request, nothing logged
    size = city.svc.audit.size()
    again = ask(city, alert_id)
    assert again.status_code == 200 and again.json()["request_id"] == request_id
    assert again.json()["state"] == "sent" and city.svc.audit.size() == size


def test_bad_requests_are_problems_and_only_the_control_room_may_ask(city: World) -> None:
    alert_id, _, _ = with_evidence(city, T0)
    bare = send(city, [event(T0 + timedelta(minutes=5), camera="lobby")]).alerts[0]
    start = city.svc.audit.size()
    for alert, status, code in ((alert_id + 1000, 404, "not_found"),
                                (bare, 409, "no_evidence")):
        response = ask(city, alert)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code, response.json()
    for who in ("police", "dpo", "planner", "judge", "admin"):
        assert ask(city, alert_id, who).status_code == 403
    assert city.client.post(f"/alerts/{alert_id}/clip").status_code == 401
    # a browser's post under the session cookie carries its CSRF token
    browser = browser_for(city, "operator")
    assert browser.post(f"/alerts/{alert_id}/clip").status_code == 403
    assert not [e for e in city.svc.audit.entries(start, 100)
                if e.record.outcome == "evidence_clip_requested"]
    page = browser.get("/control-room/incidents/1", headers=HTML)
    token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    assert browser.post(f"/alerts/{alert_id}/clip",
                        headers={"X-CSRF-Token": token}).status_code == 202
    later = with_evidence(city, T0 + timedelta(minutes=9))[0]
    with city.svc.session() as session:
        session.execute(update(Node).values(active=False))
    response = ask(city, later)
    assert response.status_code == 409 and response.json()["code"] == "node_not_enrolled"


def test_a_broker_that_is_away_fails_the_request_visibly(city: World) -> None:
    alert_id, _, _ = with_evidence(city, T0)

    def away(task: str, args: list[Any], queue: str) -> None:
        raise DispatchError("the broker is unavailable (connection refused)")

    city.svc.dispatcher.enqueue = away  # type: ignore[method-assign]
    clip = ask(city, alert_id).json()
    assert (clip["state"], clip["reason"]) == ("failed", "broker_unavailable")
    assert ask(city, alert_id).status_code == 202  # a failed request may be asked again


def requested(world: World, sent: bool = True) -> tuple[int, str, int]:
    """An alert's clip request, logged and (unless not ``sent``) signed and sent to its node
    as the worker does."""
    alert_id, _, seq = with_evidence(world, T0)
    request_id = ask(world, alert_id).json()["request_id"]
    if sent:
        assert send_clip_request(world.svc, request_id) == "sent"
    return alert_id, request_id, seq


def test_no_answer_is_taken_for_a_request_not_sent_yet(city: World) -> None:
    """Its id is public in the log before the worker signs and sends it: a node answering
    from the log alone skips the node's checks of the signed request."""
    alert_id, request_id, seq = requested(city, sent=False)
    for body, what in ((clip_frame(city, request_id, seq, 0, 1, T0, event_index=0),
                        "is requested"), (refusal(city, request_id, seq), "was not sent")):
        with pytest.raises(ClipRejected, match=what):
            accept_clip(city.svc, body)
    clip = city.client.get(f"/alerts/{alert_id}/clip", headers=city.as_("operator")).json()
    assert (clip["state"], clip["received"]) == ("requested", [])
    assert send_clip_request(city.svc, request_id) == "sent"
    assert accept_clip(city.svc, clip_frame(city, request_id, seq, 0, 1, T0,
                                            event_index=0)) == "stored"


def test_each_frame_is_checked_as_evidence_is_and_against_its_request(city: World) -> None:
    alert_id, request_id, seq = requested(city)
    good = clip_frame(city, request_id, seq, 0, 5, T0)
    other_request = "0" * 8 + "-0000-4000-8000-" + "0" * 12

    def altered(**change: Any) -> dict[str, Any]:
        return {**good, "frame": {**good["frame"], **change}}

    refusals = [
        (clip_frame(city, request_id, seq, 0, 5, T0, key=SigningKey.generate()),
         "not signed by the enrolled"),
        ({**good, "signature": ""}, "not signed by the enrolled"),
        (altered(index=1), "not signed by the enrolled"),  # moved after signing
        ({**good, "jpeg": clip_frame(city, request_id, seq, 1, 5, T0)["jpeg"]},
         "not the one signed"),
        (clip_frame(city, other_request, seq, 0, 5, T0), "no clip request"),
        (clip_frame(city, request_id, seq + 1, 0, 5, T0), "is for event"),
        (clip_frame(city, request_id, seq, 0, 5, T0, camera="lobby"), "is for camera gate"),
        (clip_frame(city, request_id, seq, 0, 5, T0, camera="roof"), "cameras not enrolled"),
        (clip_frame(city, request_id, seq, 5, 5, T0), "frame 5 of a clip of 5"),
        (altered(frames=MAX_FRAMES + 1), "not a clip frame"),
        (altered(index=MAX_FRAMES), "not a clip frame"),
        (clip_frame(city, request_id, seq, 0, 5, T0, size=(320, 180),
                    jpeg=frame_jpeg(0, 160, 90)), "signed as 320x180"),
        (clip_frame(city, request_id, seq, 0, 5, T0, box=(0, 0, 320, 10)), "box is not inside"),
        (clip_frame(city, request_id, seq, 0, 5, T0, jpeg=b"<svg>no picture</svg>"),
         "not a JPEG"),
        ({**good, "raw": "extra"}, "not a clip frame"),
        # another moment's footage under this request (an event number used twice)
        (clip_frame(city, request_id, seq, 0, 5, T0 + timedelta(days=40)),
         "s from its alert's time"),
        (clip_frame(city, request_id, seq, 0, 5, T0 - timedelta(seconds=30)),
         "s from its alert's time"),
    ]
    for body, reason in refusals:
        with pytest.raises(ClipRejected, match=reason):
            accept_clip(city.svc, body)
    with city.svc.session() as session:
        assert session.scalar(select(func.count()).select_from(AlertEvidenceClip)) == 0
    assert accept_clip(city.svc, good) == "stored"
    assert accept_clip(city.svc, good) == "duplicate"  # redelivered: kept once
    with pytest.raises(ClipRejected, match="has 6 frames, its first said 5"):
        accept_clip(city.svc, clip_frame(city, request_id, seq, 1, 6, T0))
    for index in range(1, 5):
        assert accept_clip(city.svc, clip_frame(city, request_id, seq, index, 5, T0)) == "stored"
    clip = city.client.get(f"/alerts/{alert_id}/clip", headers=city.as_("operator")).json()
    assert (clip["state"], clip["frames"]) == ("received", 5)
    assert [f["index"] for f in clip["received"]] == [0, 1, 2, 3, 4]
    assert [f["event_frame"] for f in clip["received"]] == [False, False, True, False, False]
    assert all(f["intact"] for f in clip["received"])
    # a refusal after the frames changes nothing; a forged one is refused
    assert accept_clip(city.svc, refusal(city, request_id, seq)) == "refused"
    with pytest.raises(ClipRejected, match="not signed by the enrolled"):
        accept_clip(city.svc, refusal(city, request_id, seq, key=SigningKey.generate()))
    assert city.client.get(f"/alerts/{alert_id}/clip",
                           headers=city.as_("operator")).json()["state"] == "received"


def test_a_signed_refusal_answers_the_request_and_it_may_be_asked_again(city: World) -> None:
    alert_id, request_id, seq = requested(city)
    with pytest.raises(ClipRejected, match="is for event"):
        accept_clip(city.svc, refusal(city, request_id, seq + 1))
    assert accept_clip(city.svc, refusal(city, request_id, seq, ClipRefused.NOT_LOGGED)) == \
        "refused"
    clip = city.client.get(f"/alerts/{alert_id}/clip", headers=city.as_("operator")).json()
    assert (clip["state"], clip["reason"]) == ("refused", "not_logged")
    with pytest.raises(ClipRejected, match="is refused"):
        accept_clip(city.svc, clip_frame(city, request_id, seq, 0, 3, T0))
    again = ask(city, alert_id)
    assert again.status_code == 202 and again.json()["request_id"] != request_id


def test_frames_are_served_to_the_control_room_and_each_look_at_a_clip_logged_once(
        city: World) -> None:
    alert_id, request_id, seq = requested(city)
    for index in range(3):
        accept_clip(city.svc, clip_frame(city, request_id, seq, index, 3, T0))
    path = f"/alerts/{alert_id}/clips/{request_id}"
    start = city.svc.audit.size()
    for index in (0, 1, 2, 0):
        response = city.client.get(f"{path}/{index}.jpg", headers=city.as_("operator"))
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert response.content == frame_jpeg(index)
    looks = [e for e in city.svc.audit.entries(start, 100)
             if e.record.outcome == "evidence_clip_viewed"]
    assert len(looks) == 1 and looks[0].record.actor.role == "site_operator"
    sealed = {k: json.loads(v) for k, v in city.svc.audit.details(looks[0].index).items()}
    assert sealed["request_id"] == request_id and sealed["alert"] == str(alert_id)
    assert city.client.get(f"{path}/3.jpg", headers=city.as_("operator")).status_code == 404
    assert city.client.get(f"/alerts/{alert_id + 1}/clips/{request_id}/0.jpg",
                           headers=city.as_("operator")).status_code == 404
    for who in ("police", "dpo", "planner"):
        assert city.client.get(f"{path}/0.jpg", headers=city.as_(who)).status_code == 403
    # an altered stored frame no longer checks, and says so
    with city.svc.session() as session:
        session.execute(update(AlertEvidenceClip).where(AlertEvidenceClip.index == 1)
                        .values(jpeg=frame_jpeg(2)))
    clip = city.client.get(f"/alerts/{alert_id}/clip", headers=city.as_("operator")).json()
    assert [f["intact"] for f in clip["received"]] == [True, False, True]
    for url in (f"/alerts/{alert_id}/clip", f"{path}/0.jpg"):  # neither kept in a cache
        response = city.client.get(url, headers=city.as_("operator"))
        assert "no-store" in response.headers["cache-control"], url


def test_tabs_fetching_a_clip_at_once_log_one_look(city: World) -> None:
    alert_id, request_id, seq = requested(city)
    accept_clip(city.svc, clip_frame(city, request_id, seq, 0, 1, T0, event_index=0))
    looks = racing_first_looks(city, alert_id, request_id, city.svc.audit.size())
    assert len(looks) == 1
    with city.svc.session() as session:
        assert session.scalar(select(func.count()).select_from(EvidenceClipLook)) == 1


def test_the_incident_page_offers_a_clip_per_alert_with_evidence(city: World) -> None:
    alert_id, incident, _ = with_evidence(city, T0)
    page = browser_for(city, "operator").get(f"/control-room/incidents/{incident}",
                                             headers=HTML).text
    assert f'aria-label="Request clip of alert {alert_id}"' in page
    assert 'src="/static/evidence_clips.js"' in page


def test_clips_go_with_their_alert_at_the_retention_purge(city: World) -> None:
    alert_id, request_id, seq = requested(city)
    accept_clip(city.svc, clip_frame(city, request_id, seq, 0, 1, T0, event_index=0))
    city.client.get(f"/alerts/{alert_id}/clips/{request_id}/0.jpg",
                    headers=city.as_("operator"))
    city.set_time(T0 + timedelta(days=city.settings.alert_retention_days, hours=1))
    assert purge_alerts(city.svc) == 1
    with city.svc.session() as session:
        for table in (AlertEvidenceClip, EvidenceClipRequest, EvidenceClipLook):
            assert session.scalar(select(func.count()).select_from(table)) == 0


def test_clip_frames_go_after_evidence_clip_days_the_purge_logged_first(city: World) -> None:
    """A clip is kept about as long as its node keeps it, not for the alert's retention."""
    alert_id, request_id, seq = requested(city)
    accept_clip(city.svc, clip_frame(city, request_id, seq, 0, 1, T0, event_index=0))
    frame = f"/alerts/{alert_id}/clips/{request_id}/0.jpg"
    assert city.client.get(frame, headers=city.as_("operator")).status_code == 200
    days = timedelta(days=city.settings.evidence_clip_days)
    city.set_time(T0 + days - timedelta(minutes=1))
    assert purge_clips(city.svc) == 0
    city.set_time(T0 + days + timedelta(minutes=1))
    start = city.svc.audit.size()
    assert purge_clips(city.svc) == 1
    (entry,) = city.svc.audit.entries(start, 10)
    assert (entry.record.action, entry.record.purpose_code) == (
        Action.RETENTION_PURGE, "evidence_clip_retention")
    assert json.loads(city.svc.audit.details(entry.index)["clip_frames"]) == "1"
    assert city.client.get(frame, headers=city.as_("operator")).status_code == 404
    clip = city.client.get(f"/alerts/{alert_id}/clip", headers=city.as_("operator")).json()
    assert (clip["state"], clip["received"]) == ("purged", [])
    with city.svc.session() as session:
        for table in (AlertEvidenceClip, EvidenceClipLook):
            assert session.scalar(select(func.count()).select_from(table)) == 0
    assert purge_clips(city.svc) == 0 and city.svc.audit.size() == start + 1


def test_housekeeping_reports_how_many_clips_it_purged(city: World) -> None:
    """Beside the other purges' counts: clips (requests whose frames went), the entry saying
    how many frames."""
    _, request_id, seq = requested(city)
    for index in range(2):
        accept_clip(city.svc, clip_frame(city, request_id, seq, index, 2, T0))
    city.set_time(T0 + timedelta(days=city.settings.evidence_clip_days, minutes=1))
    start = city.svc.audit.size()
    done = housekeeping(city.svc)
    assert done["purged_clips"] == 1 and done["purged_alerts"] == 0
    (entry,) = [e for e in city.svc.audit.entries(start, 100)
                if e.record.purpose_code == "evidence_clip_retention"]
    details = {k: json.loads(v) for k, v in city.svc.audit.details(entry.index).items()}
    assert (details["clips"], details["clip_frames"]) == ("1", "2")
    assert housekeeping(city.svc)["purged_clips"] == 0


def test_the_worker_retries_a_request_the_witnesses_do_not_cosign_then_marks_it_failed(
        city: World) -> None:
    alert_id, request_id, seq = requested(city, sent=False)

    def absent() -> str:
        raise WitnessQuorumError("the audit log's checkpoint is cosigned by fewer than 1")

    city.svc.witnessing.witnessed = absent  # type: ignore[method-assign]
    app = worker_app(city.settings, lambda: city.svc)
    outcome = app.tasks[SEND_CLIP_REQUEST_TASK].apply(args=[request_id]).get()
    assert outcome == {"state": "failed"}
    clip = city.client.get(f"/alerts/{alert_id}/clip", headers=city.as_("operator")).json()
    assert (clip["state"], clip["reason"]) == ("failed", "unwitnessed")
    assert f"after {CLIP_SEND_ATTEMPTS} tries" in clip["detail"]
    # the node's answer to a request never sent is refused (no frame can match it)
    assert app.tasks[CLIP_TASK](clip_frame(city, request_id, seq, 0, 1, T0))["taken"] is None


def test_frames_that_cannot_be_one_clip_with_those_kept_are_refused(city: World) -> None:
    """One event frame, the only one boxed; times and video frame numbers rise with the
    index (checked against the request's kept frames)."""
    alert_id, request_id, seq = requested(city)
    assert accept_clip(city.svc, clip_frame(city, request_id, seq, 2, 5, T0)) == "stored"
    for body, why in (
            (clip_frame(city, request_id, seq, 3, 5, T0, event_index=3), "second event frame"),
            (clip_frame(city, request_id, seq, 4, 5, T0, box=(10, 10, 50, 50)),
             "boxed but not the event's"),
            (clip_frame(city, request_id, seq, 0, 5, T0 + timedelta(seconds=1)), "does not rise"),
            (clip_frame(city, request_id, seq, 4, 5, T0, video_frame=101), "does not rise")):
        with pytest.raises(ClipRejected, match=why):
            accept_clip(city.svc, body)
    for index in (0, 1, 3, 4):
        assert accept_clip(city.svc, clip_frame(city, request_id, seq, index, 5, T0)) == "stored"
    clip = city.client.get(f"/alerts/{alert_id}/clip", headers=city.as_("operator")).json()
    assert [f["box"] is not None for f in clip["received"]] == [False, False, True, False, False]


def test_a_clip_left_waiting_past_its_deadline_may_be_asked_for_again(city: World) -> None:
    """Sent and never answered, or answered with frames missing: past
    ``evidence_clip_wait_seconds`` it is over (the page stops following it) and a new request
    is logged and sent."""
    wait = timedelta(seconds=city.settings.evidence_clip_wait_seconds)
    partial, request_id, seq = requested(city)
    assert accept_clip(city.svc, clip_frame(city, request_id, seq, 0, 3, T0)) == "stored"
    silent = with_evidence(city, T0 + timedelta(minutes=1))[0]
    silent_request = ask(city, silent).json()["request_id"]
    assert send_clip_request(city.svc, silent_request) == "sent"
    waiting = {partial: (request_id, "received"), silent: (silent_request, "sent")}
    over = {partial: (request_id, "incomplete"), silent: (silent_request, "unanswered")}
    now = city.svc.clock()
    for moment, expected in ((now + wait - timedelta(seconds=1), waiting), (now + wait, waiting),
                             (now + wait + timedelta(seconds=1), over)):
        city.set_time(moment)
        for alert, (request, state) in expected.items():
            clip = city.client.get(f"/alerts/{alert}/clip", headers=city.as_("operator")).json()
            assert (clip["request_id"], clip["state"]) == (request, state), moment
    for alert, (old, _) in over.items():
        start = city.svc.audit.size()
        again = ask(city, alert)
        assert again.status_code == 202 and again.json()["request_id"] != old
        assert [e.record.event_id for e in city.svc.audit.entries(start, 10)
                if e.record.outcome == "evidence_clip_requested"] == [again.json()["request_id"]]


def test_a_request_never_sent_is_over_past_its_deadline_too(city: World) -> None:
    """The worker down or the broker away: a request still ``requested`` past
    ``evidence_clip_wait_seconds`` reads ``unsent``, may be asked for again, and is never sent
    afterwards (nor answered)."""
    spy = Spy(city)
    wait = timedelta(seconds=city.settings.evidence_clip_wait_seconds)
    alert_id, old, seq = requested(city, sent=False)
    now = city.svc.clock()
    for moment, state in ((now + wait, "requested"), (now + wait + timedelta(seconds=1),
                                                      "unsent")):
        city.set_time(moment)
        clip = city.client.get(f"/alerts/{alert_id}/clip", headers=city.as_("operator")).json()
        assert (clip["request_id"], clip["state"]) == (old, state), moment
    start = city.svc.audit.size()
    again = ask(city, alert_id)
    assert again.status_code == 202 and again.json()["request_id"] != old
    assert [e.record.event_id for e in city.svc.audit.entries(start, 10)
            if e.record.outcome == "evidence_clip_requested"] == [again.json()["request_id"]]
    with city.svc.session() as session:  # its end stored by the ask that superseded it
        assert session.get_one(EvidenceClipRequest, old).state == "unsent"
    # the worker, back, sends the new request and not the old one
    sent = len(spy.sent)
    assert send_clip_request(city.svc, old) == "unsent"
    assert len(spy.sent) == sent
    with pytest.raises(ClipRejected, match="is unsent"):
        accept_clip(city.svc, clip_frame(city, old, seq, 0, 1, T0, event_index=0))
    assert send_clip_request(city.svc, again.json()["request_id"]) == "sent"


def test_the_worker_does_not_send_a_request_that_went_over_while_it_tried(
        city: World) -> None:
    """Past its deadline with no newer ask: the worker's next try finds it over and stores
    that, without sending it; its retries' final failure leaves it so."""
    spy = Spy(city)
    alert_id, request_id, _ = requested(city, sent=False)
    city.set_time(city.svc.clock() + timedelta(
        seconds=city.settings.evidence_clip_wait_seconds + 1))
    sent = len(spy.sent)
    assert send_clip_request(city.svc, request_id) == "unsent" and len(spy.sent) == sent
    fail(city.svc, request_id, "broker_unavailable", "after 12 tries")
    clip = city.client.get(f"/alerts/{alert_id}/clip", headers=city.as_("operator")).json()
    assert (clip["state"], clip["reason"]) == ("unsent", None)


def test_a_late_answer_neither_revives_a_request_that_is_over_nor_joins_a_newer_one(
        city: World) -> None:
    """Past its deadline a request is over for good: a late frame or refusal is refused,
    the view stays as the operator last saw it, and a frame of a request a newer ask
    superseded is refused too, the new clip holding its own frames only."""
    wait = timedelta(seconds=city.settings.evidence_clip_wait_seconds)
    partial, partial_request, seq = requested(city)
    assert accept_clip(city.svc, clip_frame(city, partial_request, seq, 0, 3, T0)) == "stored"
    silent = with_evidence(city, T0 + timedelta(minutes=1))[0]
    silent_request = ask(city, silent).json()["request_id"]
    assert send_clip_request(city.svc, silent_request) == "sent"
    with city.svc.session() as session:
        silent_seq = session.get_one(EvidenceClipRequest, silent_request).seq
    city.set_time(city.svc.clock() + wait + timedelta(seconds=1))

    def shown(alert: int) -> tuple[str, str, int]:
        clip = city.client.get(f"/alerts/{alert}/clip", headers=city.as_("operator")).json()
        return clip["request_id"], clip["state"], len(clip["received"])

    assert shown(partial) == (partial_request, "incomplete", 1)
    assert shown(silent) == (silent_request, "unanswered", 0)
    late = T0 + timedelta(minutes=1)
    for body, why in (
            (clip_frame(city, partial_request, seq, 1, 3, T0), "is incomplete"),
            (clip_frame(city, silent_request, silent_seq, 0, 1, late, event_index=0),
             "is unanswered"),
            (refusal(city, silent_request, silent_seq), "is unanswered")):
        with pytest.raises(ClipRejected, match=why):
            accept_clip(city.svc, body)
    assert shown(partial) == (partial_request, "incomplete", 1)  # no flip back to received
    assert shown(silent) == (silent_request, "unanswered", 0)
    # asked again: the old request's end is stored, its late frames still refused
    newer = ask(city, silent).json()["request_id"]
    assert send_clip_request(city.svc, newer) == "sent"
    with city.svc.session() as session:
        assert session.get_one(EvidenceClipRequest, silent_request).state == "unanswered"
    with pytest.raises(ClipRejected, match="is unanswered"):
        accept_clip(city.svc, clip_frame(city, silent_request, silent_seq, 0, 1, late,
                                         event_index=0))
    assert shown(silent) == (newer, "sent", 0)
    assert accept_clip(city.svc, clip_frame(city, newer, silent_seq, 0, 1, late,
                                            event_index=0)) == "stored"
    assert shown(silent) == (newer, "received", 1)
    with city.svc.session() as session:
        assert session.scalar(select(func.count()).select_from(AlertEvidenceClip).where(
            AlertEvidenceClip.request_id == silent_request)) == 0
