"""An evidence clip from the button to the frames on screen, with the real processes: the
node's outboxes (what `safecity node run` starts) send its event and the event's evidence
through the broker to `safecity coordinator worker`; an operator presses "Request clip" in
Chromium; the coordinator logs the request, its worker signs it with the entry's witnessed
receipt and puts it on the node's queue; `safecity node worker` checks it against the city's
log, answers with the clip its camera kept, signed; the outbox publishes the frames, the
coordinator's worker checks and keeps them, and the page plays them without a reload."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from nodes.events import Clip, EventStore, StoredEvent, StoredEvidence
from nodes.events import ClipFrame as StoredFrame
from nodes.evidence import snapshot
from nodes.node import outboxes
from tests.support.browser import Watched, log_in, serving
from tests.support.world import PASSWORD, World

FRAMES = 5


@pytest.fixture
def site(city: World) -> Iterator[str]:
    with serving(city.svc) as base:
        yield base


def kept_at_the_node(store: EventStore, moment: datetime) -> int:
    """An event of camera gate with its evidence and its clip, as a camera run keeps them."""
    (seq,) = store.add_many([StoredEvent("restricted_area", "keep-out", "gate", "platform",
                                         None, None, moment, 1, ("0123456789abcdef",))])
    frames = []
    for offset in range(-2, FRAMES - 2):
        image = np.full((180, 320, 3), 90 + 25 * offset, np.uint8)  # redacted: no face left
        box = (40, 40, 120, 160) if offset == 0 else None
        shot = snapshot(image, box, 320, 20_000)
        frames.append(StoredFrame(200 + 5 * offset, moment + timedelta(seconds=offset / 5),
                                  shot.jpeg, shot.width, shot.height, shot.box,
                                  event_frame=offset == 0))
    store.add_clip(Clip(seq, "gate", tuple(frames)))
    still = snapshot(np.full((360, 640, 3), 90, np.uint8), (80, 80, 240, 320), 640, 60_000)
    store.add_evidence(StoredEvidence(seq, "gate", moment, still.width, still.height, still.box,
                                      still.jpeg))
    return seq


def wait(what: str, done, world: World, seconds: float = 120):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not (found := done()):
        assert time.monotonic() < deadline, (
            f"{what}\n--- node worker\n{world.worker_log('alpha')}\n--- coordinator worker\n"
            + (world.root / "coordinator-worker.log").read_text(errors="replace"))
        time.sleep(0.3)
    return found


def test_a_clip_from_the_button_to_the_frames_on_screen(browser: Browser, city: World,
                                                        site: str) -> None:
    settings = city.nodes["alpha"].settings
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    store = EventStore(settings.stores.events)
    try:
        seq = kept_at_the_node(store, moment)
        city.start_worker("alpha")
        city.start_coordinator_worker()
        with outboxes(settings, store):  # the node's senders, as `node run` runs them
            incident = wait("the event and its evidence did not arrive", lambda: [
                i for i in city.client.get("/incidents", headers=city.as_("operator"))
                .json()["incidents"]
                if city.client.get(f"/incidents/{i['id']}", headers=city.as_("operator"))
                .json()["evidence"]], city)[0]["id"]
            alert_id = city.client.get(f"/incidents/{incident}", headers=city.as_("operator")
                                       ).json()["evidence"][0]["alert_id"]
            operator = Watched(browser.new_page(viewport={"width": 1280, "height": 900}))
            page = operator.page
            log_in(operator, site, "operator", PASSWORD)
            page.goto(f"{site}/control-room/incidents/{incident}")
            page.get_by_role("button", name=f"Request clip of alert {alert_id}").focus()
            page.keyboard.press("Enter")
            state = page.locator(f"#clip-state-{alert_id}")
            expect(state).to_contain_text(f"All {FRAMES} frames received", timeout=150_000)
            caption = page.locator(f"#clip-caption-{alert_id}")
            expect(caption).to_contain_text(f"Frame 3 of {FRAMES}")
            expect(caption.locator(".event-mark")).to_have_text("event frame")
            page.wait_for_function(f"() => document.querySelector('#clip-frame-{alert_id}')"
                                   ".naturalWidth === 320")
            page.locator(f"#clip-next-{alert_id}").focus()
            page.keyboard.press("Enter")
            expect(caption).to_contain_text(f"Frame 4 of {FRAMES}")
            print("screenshot:", operator.screenshot("control-room-clip-end-to-end"))
            operator.assert_clean()
    finally:
        store.close()
    clip = city.client.get(f"/alerts/{alert_id}/clip", headers=city.as_("operator")).json()
    assert clip["state"] == "received" and all(f["intact"] for f in clip["received"])
    outcomes = [e.record.outcome for e in city.svc.audit.entries(limit=100_000)]
    assert outcomes.count("evidence_clip_requested") == 1
    assert outcomes.count("evidence_clip_viewed") == 1
    assert "evidence_clip_rejected" not in outcomes
    node_log = city.service("alpha").audit
    sent = [e.record for e in node_log.entries(limit=100_000)
            if e.record.outcome == "evidence_clip_sent"]
    assert len(sent) == 1 and sent[0].counts_returned == FRAMES, seq
