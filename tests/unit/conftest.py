"""Fixtures of the unit tier: everything in process, on SQLite and temporary files."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def audit_db(tmp_path: Path) -> str:
    """The audit log's database here is SQLite; tests/integration/test_audit_log_postgresql.py
    runs the same tests on PostgreSQL."""
    return f"sqlite:///{tmp_path / 'audit.db'}"
