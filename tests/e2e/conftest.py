"""Fixtures the browser tests share: one Chromium per module, and a one-site city for the pages
(a module that needs another city defines its own ``city``), and each test's screenshots named
in its report."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support.browser import TAKEN, chromium
from tests.support.world import World, embedded_world


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    """A coordinator with one node (``alpha`` at ``site-a``); queries time out after 2 s."""
    world = embedded_world(tmp_path, query_timeout=2.0)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, object, None]:
    """The screenshots a test took, attached to its report: a ``screenshots`` section (shown
    with the test's output, ``-rA``, and on failure) and ``screenshot`` properties in
    ``--junitxml``, so a reviewer finds each page's picture from the test that drew it."""
    shots = [str(path) for path in TAKEN]
    TAKEN.clear()
    item.user_properties.extend(("screenshot", shot) for shot in shots)  # in every later report
    outcome = yield
    if shots:
        outcome.get_result().sections.append(  # type: ignore[attr-defined]
            ("screenshots", "\n".join(shots)))
