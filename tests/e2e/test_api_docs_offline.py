"""The API's documentation pages work with no network but the coordinator (issue 24): headless
Chromium opens ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) with every request to any other
origin aborted, and sees the API's operations rendered; nothing was even asked of another
origin, no Content-Security-Policy violation or error happened, and the policy has no
``'unsafe-inline'`` or ``'unsafe-eval'``. Screenshots in test-artifacts/web."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.support.browser import Watched, serving
from tests.support.world import World, embedded_world


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    world: World = embedded_world(tmp_path)
    with serving(world.svc) as base:
        yield base
    world.close()


def offline_page(browser: Browser, base: str) -> tuple[Watched, list[str]]:
    """A page whose requests to any origin but ``base`` are aborted (and listed)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []

    def only_the_coordinator(route: Route) -> None:
        url = route.request.url
        if url == base or url.startswith(base + "/"):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    page.route("**/*", only_the_coordinator)
    return Watched(page), elsewhere


def strict(policy: str) -> None:
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src"):
        sources = directives[name].split()
        assert sources[0] == "'self'"
        assert all(s.startswith(("'sha256-", "'nonce-")) for s in sources[1:]), sources
    assert "unsafe" not in policy and "http" not in policy and "*" not in policy
    assert directives.get("worker-src", "blob:") == "blob:"


def test_swagger_ui_renders_the_operations_from_the_coordinator_alone(
        browser: Browser, site: str) -> None:
    watched, elsewhere = offline_page(browser, site)
    page = watched.page
    response = page.goto(f"{site}/docs")
    assert response is not None and response.ok
    strict(response.headers["content-security-policy"])
    expect(page.locator(".opblock-summary-path[data-path='/warrants']").first).to_be_visible()
    expect(page.locator(".opblock-summary-path[data-path='/token']")).to_be_visible()
    assert page.locator(".opblock").count() > 40
    page.locator(".opblock-summary-path[data-path='/token']").click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    watched.screenshot("api-docs-swagger-offline")
    assert elsewhere == []
    watched.assert_clean()
    page.close()


def test_redoc_renders_the_operations_from_the_coordinator_alone(
        browser: Browser, site: str) -> None:
    watched, elsewhere = offline_page(browser, site)
    page = watched.page
    response = page.goto(f"{site}/redoc")
    assert response is not None and response.ok
    strict(response.headers["content-security-policy"])
    menu = page.locator("[role=menuitem]")
    expect(menu.first).to_be_visible(timeout=30_000)
    assert menu.count() > 40
    expect(page.get_by_text("/warrants/{warrant_id}/signatures").first).to_be_attached()
    # ReDoc's own styles applied (its three panels laid out), not blocked by the policy
    width = page.evaluate("document.querySelector('.menu-content').getBoundingClientRect().width")
    assert 0 < width < 640
    watched.screenshot("api-docs-redoc-offline")
    assert elsewhere == []
    # ReDoc's menu always shows Redocly's logo from their CDN: the policy refuses it before any
    # request (so `elsewhere` is empty) and ReDoc hides the broken image; nothing else failed.
    logo = [e for e in watched.errors if "https://cdn.redoc.ly/redoc/logo-mini.svg" in e
            and "violates the following Content Security Policy directive" in e]
    assert len(logo) <= 1
    assert [e for e in watched.errors if e not in logo] == []
    assert page.locator("img[alt='redocly logo']").count() == 0
    page.close()


def test_every_page_footer_links_to_docs_on_this_origin(browser: Browser, site: str) -> None:
    watched, elsewhere = offline_page(browser, site)
    page = watched.page
    page.goto(f"{site}/portal")
    with page.expect_navigation():
        page.locator("footer a", has_text="API").click()
    assert page.url == f"{site}/docs"
    expect(page.locator(".opblock").first).to_be_visible()
    assert elsewhere == []
    watched.assert_clean()
    page.close()
