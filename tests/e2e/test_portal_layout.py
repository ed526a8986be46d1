"""The public portal as a citizen reads it, on a desktop (1280 px) and a phone (390 px): the
page never scrolls sideways, codes are in words, a judge's refusals are told apart from
searches the system stopped (with the reason in words), the recent window and each site's
notice are shown, and the report still verifies in the browser. Screenshots in
test-artifacts/web (portal-1280, portal-390, verify-390)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from coordinator.housekeeping import witness_newest
from tests.support.browser import Watched, serving
from tests.support.world import World, embedded_world

WIDTHS = (1280, 390)


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    world = embedded_world(tmp_path, query_timeout=2.0)
    world.add_node("alpha", "site-a")
    world.add_node("beta", "site-b", extra="retention_days = 14\n")
    yield world
    world.close()


def sideways(watched: Watched) -> int:
    """How far the page scrolls sideways (0: not at all)."""
    return int(watched.page.evaluate(
        "() => document.scrollingElement.scrollWidth - window.innerWidth"))


def test_the_portal_reads_and_verifies_on_a_desktop_and_a_phone(
        browser: Browser, city: World) -> None:
    used = city.registered(max_uses=1)
    for sent, status in (("w-no-such-warrant", 404), (used["warrant_id"], 202),
                         (used["warrant_id"], 403)):  # a typo, a search, a used-up warrant
        response = city.client.post("/queries", headers=city.as_("police"), json={
            "warrant_id": sent, "targets": ["AB12CDE"]})
        assert response.status_code == status, response.text
    assert witness_newest(city.svc) == "witnessed"
    log_key = city.svc.audit.signer.verifier.vkey()
    with serving(city.svc) as site:
        for width in WIDTHS:
            citizen = Watched(browser.new_context(
                viewport={"width": width, "height": 900}).new_page())
            citizen.page.goto(f"{site}/portal")
            assert sideways(citizen) <= 0, f"{width} px: scrolls {sideways(citizen)} px sideways"
            citizen.screenshot(f"portal-{width}")
            text = citizen.page.locator("main").inner_text()
            for code in ("warrant_drafted", "warrant_refused", "user_created", "used_up"):
                assert code not in text, code
            refusals = citizen.page.locator("#refusals")
            expect(refusals).to_contain_text("0 refused by a judge")
            expect(refusals).to_contain_text(
                "1 stopped by the system: all of the warrant's uses were spent (1)")
            expect(citizen.page.locator("#changes")).to_contain_text(
                "a user account was created")
            expect(citizen.page.locator("#recent")).to_contain_text("1 searches sent to sites")
            expect(citizen.page.locator("#recent")).to_contain_text("4 cameras at 2 sites")
            cameras = citizen.page.locator("#cameras").inner_text()
            # both sites stated their notices (the world's cameras name no location: that
            # alone says "not stated", as the site's configuration does)
            detects = citizen.page.locator("#cameras tbody td:nth-child(5)").all_inner_texts()
            assert len(detects) == 4 and all("object detector" in d for d in detects)
            assert "site-b" in cameras and "raw video: 14" in cameras
            expect(citizen.page.locator("#offline-check")).to_contain_text(log_key)
            assert "…" not in citizen.page.locator("#offline-check").inner_text()
            # one training-less site budget, one purpose: numbers, not lone full-width bars
            assert citizen.page.locator("#searches-h ~ figure svg").count() == 0
            citizen.assert_accessible()
            citizen.assert_clean()
        # the command the portal prints runs as printed, and recomputes the same report
        printed = shlex.split(citizen.page.locator("#offline-check").inner_text())
        assert printed[:3] == ["safecity", "audit", "report"]
        ran = subprocess.run([sys.executable, "-c", "from nodes.cli import main; main()",
                              *printed[1:]], capture_output=True, text=True, timeout=120,
                             check=False)
        assert ran.returncode == 0, ran.stderr
        published = city.client.get("/portal/report.json").json()["report"]
        assert json.loads(ran.stdout)["refusals_by_reason"] == published["refusals_by_reason"]
        citizen.page.goto(f"{site}/portal/verify")  # the phone
        assert sideways(citizen) <= 0
        expect(citizen.page.locator("#offline-check")).to_contain_text(log_key)
        citizen.page.click("#verify-button")
        status = citizen.page.locator("#verify-status")
        expect(status).to_have_attribute("data-result", "verified", timeout=30_000)
        citizen.screenshot("verify-390")
        citizen.assert_clean()
