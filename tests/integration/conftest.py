"""Fixtures of the integration tier: real PostgreSQL, Redis and processes."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The audit log's database: each test runs on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    return request.getfixturevalue("postgres_url")
