"""Shared set-up for the incident red-team reproducers: a real coordinator (the FastAPI app, over
HTTP through Starlette's client) on a scratch PostgreSQL database at 127.0.0.1:5432 (trust
auth), six people with real password hashes, and enrolled nodes whose signed event batches are
taken in exactly as the coordinator's worker takes them off the broker (``alert_intake.accept``).

Not a test module: each ``redteam/incident_*.py`` script imports ``city`` and exits non-zero
when its attack works."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient

from tests.support.world import World

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@contextmanager
def city(**options: object) -> Iterator[World]:
    name = f"redteam3_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            world = World(root, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
                          f"sqla+sqlite:///{root / 'broker.sqlite'}",
                          f"db+sqlite:///{root / 'results.sqlite'}", options=dict(options))
            # what a remote caller sees: a server error is a 500 answer, not an exception here
            world.client = TestClient(world.client.app, raise_server_exceptions=False)
            try:
                world.add_node("alpha", "site-a")
                world.add_node("beta", "site-b")
                yield world
            finally:
                world.close()
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
