"""Pages in a real browser: the coordinator served by uvicorn on loopback and Debian's
chromium driven by Playwright (``executable_path``; Playwright downloads no browser). Every page
the tests open is watched for console errors and uncaught exceptions; screenshots go to
``test-artifacts/web`` (``SAFECITY_ARTIFACTS`` overrides), each named in its test's report
(``tests/e2e/conftest.py``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.served import serving  # noqa: F401 - the browser tests' server

CHROMIUM = os.environ.get("SAFECITY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SAFECITY_ARTIFACTS")
                 or Path(__file__).resolve().parents[2] / "test-artifacts" / "web")
# the screenshots taken since the last report was made: tests/e2e/conftest.py attaches them to
# the running test's report (its output and the JUnit XML's properties) and empties this
TAKEN: list[Path] = []


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A page whose console errors and uncaught exceptions are kept, to assert there are none."""

    def __init__(self, page: Page):
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"exception: {e}"))

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        TAKEN.append(path)
        return path

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors

    def outline_contrast(self, selector: str) -> float:
        """The contrast ratio (WCAG 2) of ``selector``'s focus outline with the page behind it
        (an outline with an offset is drawn on the page's background, not the element's)."""
        return float(self.page.evaluate("""(selector) => {
          const rgb = (c) => c.match(/[0-9.]+/g).slice(0, 3).map(Number);
          const lum = (c) => rgb(c).map((v) => { v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
            .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
          const outline = lum(getComputedStyle(document.querySelector(selector)).outlineColor);
          const page = lum(getComputedStyle(document.body).backgroundColor);
          return (Math.max(outline, page) + 0.05) / (Math.min(outline, page) + 0.05);
        }""", selector))

    def assert_accessible(self) -> None:
        """Charts and pictures carry text alternatives; every form control has a label."""
        missing = self.page.evaluate("""() => {
          const out = [];
          for (const svg of document.querySelectorAll('svg[role="img"]')) {
            const title = svg.querySelector('title'), desc = svg.querySelector('desc');
            if (!title || !title.textContent.trim() || !desc || !desc.textContent.trim())
              out.push('chart without title/desc');
          }
          for (const img of document.querySelectorAll('img'))
            if (!img.alt) out.push('img without alt');
          const fields = 'input:not([type=hidden]), select, textarea';
          for (const el of document.querySelectorAll(fields)) {
            const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`))
              || el.closest('label') || el.getAttribute('aria-label');
            if (!labelled) out.push(`control ${el.name || el.id} without a label`);
          }
          return out;
        }""")
        assert missing == [], missing


def log_in(watched: Watched, base: str, username: str, password: str) -> None:
    """Sign in with the keyboard only, as someone who cannot use a mouse would."""
    page = watched.page
    page.goto(f"{base}/login")
    page.keyboard.press("Tab")  # the skip link comes first
    page.focus("#username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/login" not in page.url, page.locator("main").inner_text()
