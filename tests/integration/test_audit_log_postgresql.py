"""The audit log's tests that take a database (tests/unit/test_audit_log.py, on SQLite there)
run here on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.unit.test_audit_log import (  # noqa: F401 - collected here with this module's audit_db
    test_append_is_durable_signed_and_provable,
    test_pages_of_checkpoints_and_of_the_bundle_join_into_the_whole,
    test_personal_details_are_committed_not_published,
)


@pytest.fixture
def audit_db(postgres_url: str) -> str:
    return postgres_url
