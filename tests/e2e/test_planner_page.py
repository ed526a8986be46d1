"""The city planner's page in headless Chromium, on a desktop (1280 px) and a phone (390 px):
the planner signs in (keyboard only) and lands on it with their name in the header, chooses
the statistic, a camera and the hours, sees what the question costs the site before asking,
asks, and reads the node worker's noisy answer (a real worker process answering from its own
visits, with the noise it adds) drawn with its 95% error bars; the question is in their
history and the site's budget left is shown for the next one, which the page says the site
would refuse. No page scrolls sideways; every control is labelled and reached by Tab; a police
analyst and an anonymous visitor are refused. Screenshots in test-artifacts/web
(planner-1280, planner-answer-1280, planner-390, planner-answer-390)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from audit.records import Action
from nodes.events import EventStore
from tests.support.browser import Watched, log_in, serving
from tests.support.page_checks import tab_reaches, text_contrast_failures
from tests.support.world import PASSWORD, World, embedded_world

ZONES = ('[cameras.analytics]\nzones = [{id = "square", polygon = [[0, 0], [1, 0], [1, 1], '
         '[0, 1]]}]\n')
START = datetime(2026, 10, 1, 6, tzinfo=UTC)
HOURS, PER_HOUR = 12, 40
WIDTHS = (1280, 390)


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    world = embedded_world(tmp_path, query_timeout=120.0)
    node = world.add_node("alpha", "site-a", analytics=ZONES,
                          extra="privacy_budget = {period_epsilon = 2.0, lifetime_epsilon = 5.0, "
                          "time_zone = \"Europe/Berlin\"}\ndp_suppress_below = 0\n")
    store = EventStore(node.settings.stores.events)
    for camera in ("gate", "lobby"):  # PER_HOUR visits starting in every hour, dwell 20 s
        store.add_visits(camera, [("square", START + timedelta(minutes=60 * h + m), 20.0)
                                  for h in range(HOURS) for m in range(PER_HOUR)])
    store.close()
    yield world
    world.close()


def sideways(watched: Watched) -> int:
    return int(watched.page.evaluate(
        "() => document.scrollingElement.scrollWidth - window.innerWidth"))


def checked(watched: Watched, name: str, width: int) -> None:
    """No sideways scroll, labelled controls, text contrast, no console errors; a screenshot."""
    assert sideways(watched) <= 0, f"{name} at {width} px scrolls {sideways(watched)} px"
    watched.assert_accessible()
    assert text_contrast_failures(watched.page) == [], name
    watched.screenshot(f"{name}-{width}")
    watched.assert_clean()


def test_a_planner_asks_sees_the_cost_and_reads_the_answer_with_error_bars(
        browser: Browser, city: World) -> None:
    city.start_worker("alpha")
    with serving(city.svc) as site:
        planner = Watched(browser.new_context(viewport={"width": 1280, "height": 900}).new_page())
        requested: list[str] = []
        planner.page.on("request", lambda r: requested.append(r.url))
        log_in(planner, site, "planner", PASSWORD)
        page = planner.page
        assert page.url.endswith("/planner")
        expect(page.locator("header")).to_contain_text("Sign out planner (planner)")
        reached = tab_reaches(page, 40)
        for control in ("kind-zone_counts_hourly", "site-1", "camera-1", "start-day",
                        "start-hour", "end-day", "end-hour", "epsilon", "delta", "ask-button"):
            assert control in reached, (control, reached)
        costs = page.locator("#costs tbody")
        expect(costs).to_contain_text("unknown until its first answer")

        page.check("#kind-zone_counts_hourly")
        page.check("#camera-1")  # gate (cameras are listed by name)
        page.fill("#start-day", START.date().isoformat())
        page.select_option("#start-hour", str(START.hour))
        page.fill("#end-day", START.date().isoformat())
        page.select_option("#end-hour", str(START.hour + HOURS))
        page.fill("#epsilon", "5")  # over the coordinator's cap: said before asking
        expect(page.locator("#cost-status")).to_contain_text("at most epsilon 1")
        page.fill("#epsilon", "0.5")
        expect(page.locator("#cost-status")).to_contain_text("1 site would be asked, at "
                                                             "epsilon 0.5 each")
        expect(page.locator("#expected-error")).to_contain_text("within ±6")
        expect(costs).to_contain_text("gate")
        expect(costs).not_to_contain_text("lobby")
        checked(planner, "planner", 1280)

        before = city.svc.audit.size()
        with page.expect_navigation():
            page.click("#ask-button")
        assert re.search(r"/planner/questions/[0-9a-f-]{36}$", page.url), page.url
        query_id = page.url.rsplit("/", 1)[1]
        status = page.locator("#answer-status")
        expect(status).to_contain_text("Every site has answered", timeout=120_000)
        noise = page.locator("#noise-1")
        expect(noise).to_contain_text("discrete Laplace")
        expect(noise).to_contain_text("b = 2 (epsilon 0.5)")
        expect(noise).to_contain_text("±6")
        expect(noise).to_contain_text("Budget left at this site after this question: 1.5")
        chart = page.locator("figure.intervals svg[role=img]")
        expect(chart).to_have_count(1)  # one camera, one zone
        assert page.locator("figure.intervals path.whisker").count() == HOURS
        page.locator("details summary").first.click()  # the figures as a table
        rows = page.locator("details table tbody tr")
        expect(rows).to_have_count(HOURS)
        values = [int(v) for v in rows.locator("td:nth-child(2)").all_inner_texts()]
        assert values != [PER_HOUR] * HOURS  # noise was added
        assert abs(sum(values) / HOURS - PER_HOUR) < 6  # ... around the true count
        first = rows.first.locator("td").all_inner_texts()
        assert first[0] == "06:00" and first[2] == f"{max(0, values[0] - 6)} to {values[0] + 6}"
        checked(planner, "planner-answer", 1280)
        elsewhere = [u for u in requested if not u.startswith((site, "data:"))]
        assert requested and elsewhere == []  # everything from the coordinator's origin

        # audited as today: the question before it was sent, each release as collected
        records = [e.record for e in city.svc.audit.entries(before, 1000)]
        dispatched = [r for r in records if r.action is Action.QUERY_DISPATCHED]
        assert len(dispatched) == 1 and dispatched[0].actor.role == "planner"
        assert dispatched[0].scope.cameras == ("gate",)
        released = [r for r in records if r.action is Action.AGGREGATE_RELEASED]
        assert [r.outcome for r in released] == ["answered"]

        # the history, and the budget left for the next question (a phone this time)
        phone = Watched(browser.new_context(viewport={"width": 390, "height": 844}).new_page())
        log_in(phone, site, "planner", PASSWORD)
        history = phone.page.locator("#history tbody")
        expect(history).to_contain_text("answered by 1 of 1 sites")
        expect(history.locator(f'a[href="/planner/questions/{query_id}"]')).to_have_count(1)
        costs = phone.page.locator("#costs tbody")
        left_now = costs.locator("td[data-label='Left now']")
        expect(left_now).to_contain_text("1.5 (estimate; reported 20")
        # the node's month and when it renews on its calendar, and its lifetime left (5 - 0.5)
        period = re.compile(r"; period \d{4}-\d\d, renews \d{4}-\d\d-01 00:00 Europe/Berlin; "
                            r"lifetime left 4\.5\)")
        expect(left_now).to_contain_text(period)
        phone.page.fill("#epsilon", "1")
        expect(costs).to_contain_text("yes, enough budget left")
        expect(costs.locator("td[data-label='Left after']")).to_have_text("0.5")
        expect(left_now).to_contain_text("1.5 (estimate; reported 20")
        expect(left_now).to_contain_text(period)  # the script's table says it too
        checked(phone, "planner", 390)
        phone.page.goto(f"{site}/planner/questions/{query_id}")
        expect(phone.page.locator("#answer-status")).to_contain_text("Every site has answered")
        checked(phone, "planner-answer", 390)

        # the portal names who is signed in, not "Sign in"
        phone.page.goto(f"{site}/portal")
        expect(phone.page.locator("header")).to_contain_text("Sign out planner (planner)")


def test_police_and_anonymous_visitors_are_refused(browser: Browser, city: World) -> None:
    with serving(city.svc) as site:
        visitor = Watched(browser.new_page())
        visitor.page.goto(f"{site}/planner")
        assert "/login?next=/planner" in visitor.page.url
        police = Watched(browser.new_context().new_page())
        log_in(police, site, "police", PASSWORD)
        before = city.svc.audit.size()
        response = police.page.goto(f"{site}/planner")
        assert response is not None and response.status == 403
        expect(police.page.locator("main")).to_contain_text("may not aggregate:query")
        denied = [e.record for e in city.svc.audit.entries(before, 100)]
        assert [(r.action, r.actor.role) for r in denied] == [
            (Action.ACCESS_DENIED, "police_analyst")]
