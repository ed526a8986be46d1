"""Fixtures the browser tests share: one Chromium per module, and a one-site city for the pages
(a module that needs another city defines its own ``city``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support.browser import chromium
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
