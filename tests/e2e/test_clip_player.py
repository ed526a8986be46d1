"""An operator asks for an alert's clip from the incident page and plays it, by keyboard: the
"Request clip" button (named for its alert) logs the request and shows its state; once the
node's signed frames are in, the flip-book player shows them without a reload: play and pause,
a frame back and forward (buttons, arrow keys, a slider), each frame's time in the city's time
zone, the event's frame marked. Text at least 4.5:1, the focus outline at least 3:1, every
control reached by Tab; the operator's look at the clip is logged once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect

from coordinator.clip_requests import send_clip_request
from coordinator.evidence_clips import accept_clip
from tests.support.browser import Watched, log_in, serving
from tests.support.clip_frames import clip_frame, with_evidence
from tests.support.page_checks import tab_reaches, text_contrast_failures
from tests.support.world import PASSWORD, World

FRAMES = 6


@pytest.fixture
def site(city: World) -> Iterator[str]:
    with serving(city.svc) as base:
        yield base


def test_an_operator_requests_a_clip_and_plays_it_by_keyboard(
        browser: Browser, city: World, site: str) -> None:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    alert_id, incident, seq = with_evidence(city, moment)
    operator = Watched(browser.new_page(viewport={"width": 1280, "height": 900}))
    page = operator.page
    log_in(operator, site, "operator", PASSWORD)
    page.goto(f"{site}/control-room/incidents/{incident}")
    button = page.get_by_role("button", name=f"Request clip of alert {alert_id}")
    expect(button).to_have_count(1)
    assert f"request-clip-{alert_id}" in tab_reaches(page, 14)
    button.focus()
    assert operator.outline_contrast(f"#request-clip-{alert_id}") >= 3.0
    page.keyboard.press("Enter")
    state = page.locator(f"#clip-state-{alert_id}")
    expect(state).to_contain_text("Clip requested and logged")
    expect(button).to_be_disabled()
    requested = [e for e in city.svc.audit.entries(limit=10_000)
                 if e.record.outcome == "evidence_clip_requested"]
    assert len(requested) == 1
    request_id = requested[0].record.event_id
    # the worker sends it; the node answers with its frames, the event's the third
    assert send_clip_request(city.svc, request_id) == "sent"
    expect(state).to_contain_text("waiting for its frames", timeout=15_000)
    start = moment - timedelta(milliseconds=400)
    for index in range(FRAMES):
        assert accept_clip(city.svc, clip_frame(city, request_id, seq, index, FRAMES,
                                                start)) == "stored"
    expect(state).to_contain_text(f"All {FRAMES} frames received", timeout=20_000)
    player = page.get_by_role("group", name=f"Clip of alert {alert_id}")
    picture = player.get_by_role("img")
    zone = ZoneInfo(city.settings.time_zone)
    at_event = moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S.000")
    expect(picture).to_have_accessible_name(
        f"Redacted frame 3 of {FRAMES} of alert {alert_id}, {at_event} "
        f"({city.settings.time_zone}), the event's frame (object boxed)")
    caption = page.locator(f"#clip-caption-{alert_id}")
    expect(caption).to_contain_text(f"Frame 3 of {FRAMES}, {at_event}")
    expect(caption.locator(".event-mark")).to_have_text("event frame")
    page.wait_for_function(f"() => document.querySelector('#clip-frame-{alert_id}')"
                           ".naturalWidth === 320")
    # step by keyboard: the buttons, then the arrow keys anywhere in the player
    page.get_by_role("button", name=f"Next frame of the clip of alert {alert_id}").focus()
    page.keyboard.press("Enter")
    expect(caption).to_contain_text(f"Frame 4 of {FRAMES}")
    expect(caption.locator(".event-mark")).to_have_count(0)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(caption).to_contain_text(f"Frame 2 of {FRAMES}")
    earlier = (start + timedelta(milliseconds=200)).astimezone(zone)
    expect(caption).to_contain_text(earlier.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
    play = page.locator(f"#clip-play-{alert_id}")
    play.focus()
    assert operator.outline_contrast(f"#clip-play-{alert_id}") >= 3.0
    page.keyboard.press("Enter")
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(play).to_have_accessible_name(f"Pause the clip of alert {alert_id}")
    expect(caption).not_to_contain_text(f"Frame 2 of {FRAMES}", timeout=5_000)  # it plays
    page.keyboard.press("Enter")
    expect(play).to_have_attribute("aria-pressed", "false")
    slider = page.get_by_role("slider", name=f"Frame of the clip of alert {alert_id}")
    slider.focus()
    page.keyboard.press("Home")
    expect(caption).to_contain_text(f"Frame 1 of {FRAMES}")
    stops = tab_reaches(page, 24)
    for control in ("back", "play", "next", "slider"):
        assert f"clip-{control}-{alert_id}" in stops, stops
    operator.assert_accessible()
    assert text_contrast_failures(page) == []
    print("screenshot:", operator.screenshot("control-room-evidence-clip"))
    looks = [e for e in city.svc.audit.entries(limit=10_000)
             if e.record.outcome == "evidence_clip_viewed"]
    assert len(looks) == 1  # every frame fetched, one look logged
    operator.assert_clean()


@pytest.mark.parametrize(("sent", "why"), [
    (True, "did not answer in time"),
    (False, "never sent to the camera site")])  # the coordinator's worker or broker away
def test_a_clip_its_node_never_answered_is_no_longer_followed_and_may_be_asked_again(
        browser: Browser, city: World, site: str, sent: bool, why: str) -> None:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    alert_id, incident, _ = with_evidence(city, moment)
    request_id = city.client.post(f"/alerts/{alert_id}/clip",
                                  headers=city.as_("operator")).json()["request_id"]
    if sent:
        assert send_clip_request(city.svc, request_id) == "sent"
    city.set_time(datetime.now(UTC) + timedelta(seconds=city.settings.evidence_clip_wait_seconds
                                                 + 60))
    operator = Watched(browser.new_page(viewport={"width": 1280, "height": 900}))
    page = operator.page
    log_in(operator, site, "operator", PASSWORD)
    page.goto(f"{site}/control-room/incidents/{incident}")
    state = page.locator(f"#clip-state-{alert_id}")
    expect(state).to_contain_text(why, timeout=15_000)
    expect(page.get_by_role("button", name=f"Request clip of alert {alert_id}")).to_be_enabled()
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/clip") else None)
    page.wait_for_timeout(4_000)  # the page followed a waiting clip every 0.5-5 s
    assert polls == []
    operator.assert_clean()
