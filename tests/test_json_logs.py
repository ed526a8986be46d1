"""Structured logs of the long-running processes: the coordinator's API as a real process logs
one JSON object per line, each request under its route template with its request id (the
caller's, echoed back), a query's lines with the query id; no plate, user name, password or
token anywhere in it. The masking guard itself is tested on what a careless line could hold."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from served import free_port
from test_faults import bearer, coordinator_process
from world import embedded_world

from kernel.json_logs import masked


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


def test_tokens_and_url_passwords_are_masked_in_any_line() -> None:
    line = masked("GET rtsp://admin:hunter2@10.0.0.5/live with Bearer abc.def-ghi and "
                  "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
    assert "hunter2" not in line and "abc.def-ghi" not in line and "eyJ" not in line
    assert "rtsp://admin:<password>@10.0.0.5/live" in line
