"""The coordinator API process logs JSON lines with request and query ids and nothing personal."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.integration.test_faults import bearer, coordinator_process
from tests.support.served import free_port
from tests.support.world import embedded_world


def test_the_api_logs_json_with_request_and_query_ids_and_nothing_personal(
        tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        world.add_node("alpha", "site-a")
        warrant = world.registered()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with coordinator_process(world, port):
            police = bearer(base, "police")
            sent = httpx.post(f"{base}/queries", timeout=30, json={
                "warrant_id": warrant["warrant_id"], "targets": ["AB12 CDE"]},
                headers={**police, "X-Request-ID": "trace-42"})
            assert sent.status_code == 202 and sent.headers["x-request-id"] == "trace-42"
            query_id = sent.json()["query_id"]
            other = httpx.get(f"{base}/warrants", headers={"X-Request-ID": "bad id!"})
            assert other.status_code == 401 and other.headers["x-request-id"] != "bad id!"
        lines = (tmp_path / "coordinator-serve.log").read_text().splitlines()
    finally:
        world.close()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(e["process"] == "coordinator-api" and e["level"] and e["time"] for e in entries)
    submitted = [e for e in entries if e.get("request_id") == "trace-42"]
    assert any(e["message"].startswith("POST /queries 202") for e in submitted), submitted
    assert all(e.get("query_id") in (None, query_id) for e in submitted)
    assert any(e.get("query_id") == query_id and "dispatched to 1 node" in e["message"]
               for e in submitted), submitted
    text = "\n".join(lines)
    assert warrant["warrant_id"] not in text
    for secret in ("AB12", "CDE", "police", "correct horse", police["Authorization"][7:]):
        assert secret not in text, secret
