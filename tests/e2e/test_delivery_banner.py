"""The control room's status line of the alerts' actions in headless Chromium (issue 23's bad
input): a real mosquitto the coordinator publishes to is stopped; without a reload the status
line (a polite live region) says the broker is unreachable with the actions waiting, its text
at least 4.5:1, the incident list still there, and the video wall and the map say it too; the
broker returns, a delivery succeeds, and the line says the actions are delivered again.
Screenshot in test-artifacts/web."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from coordinator.config import MqttSettings
from coordinator.errors import DeliveryFailed
from coordinator.mqtt import Publisher, deliver
from tests.support.browser import Watched, log_in, serving
from tests.support.incident_events import event, send
from tests.support.mosquitto import Broker
from tests.support.page_checks import text_contrast_failures
from tests.support.world import PASSWORD, World, embedded_world

WAIT_MS = 25_000  # the page asks /delivery-status every 15 s


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path / "mosquitto")
    running.start()
    yield running
    running.stop()


@pytest.fixture
def city(tmp_path: Path, broker: Broker) -> Iterator[World]:
    world = embedded_world(tmp_path / "city", options={"mqtt": broker.settings()})
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def test_the_operator_sees_the_broker_go_away_and_return_without_a_reload(
        browser: Browser, city: World, broker: Broker) -> None:
    publisher = Publisher(MqttSettings(**broker.settings(client_id=f"e2e-{broker.port}")))
    try:
        assert publisher.connected.wait(10)
        first = send(city, [event(datetime.now(UTC), "restricted_area", zone="platform")])
        deliver(city.svc, publisher, first.mqtt[0])
        with serving(city.svc) as site:
            operator = Watched(browser.new_context().new_page())
            log_in(operator, site, "operator", PASSWORD)
            expect(operator.page).to_have_url(f"{site}/control-room")
            line = operator.page.locator("#delivery-status")
            expect(line).to_have_attribute("role", "status")
            expect(line).to_have_attribute("aria-live", "polite")
            expect(line).to_have_attribute("data-ok", "yes")

            broker.stop()
            deadline = time.monotonic() + 10
            while publisher.connected.is_set():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            waiting = send(city, [event(datetime.now(UTC), "aggression", zone="square")])
            with pytest.raises(DeliveryFailed):
                deliver(city.svc, publisher, waiting.mqtt[0])
            expect(line).to_have_attribute("data-ok", "no", timeout=WAIT_MS)
            expect(line).to_contain_text(
                f"MQTT broker at localhost:{broker.port} unreachable: 1 action waiting since ")
            expect(operator.page.locator("#incidents tbody tr").first).to_be_visible()
            assert text_contrast_failures(operator.page) == []
            operator.screenshot("control-room-broker-unreachable")
            # the control room's other pages say it too
            for path in ("/control-room/wall", "/control-room/map"):
                other = Watched(operator.page.context.new_page())
                other.page.goto(f"{site}{path}")
                shown = other.page.locator("#delivery-status")
                expect(shown).to_have_attribute("aria-live", "polite")
                expect(shown).to_contain_text(f"MQTT broker at localhost:{broker.port} "
                                              "unreachable")
                assert text_contrast_failures(other.page) == []
                other.assert_clean()
                other.page.close()

            broker.start()
            deadline = time.monotonic() + 20
            while True:
                try:
                    deliver(city.svc, publisher, waiting.mqtt[0])
                    break
                except DeliveryFailed:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            expect(line).to_have_attribute("data-ok", "yes", timeout=WAIT_MS)
            expect(line).to_have_text("Actions are being delivered (MQTT and webhooks).")
            assert text_contrast_failures(operator.page) == []
            operator.assert_clean()
    finally:
        publisher.close()
