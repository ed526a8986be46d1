"""Structured logs of the long-running processes: the coordinator's API as a real process logs
one JSON object per line, each request under its route template with its request id (the
caller's, echoed back), a query's lines with the query id; no plate, user name, password or
token anywhere in it. The masking guard itself is tested on what a careless line could hold."""

from __future__ import annotations

from kernel.json_logs import masked


def test_tokens_and_url_passwords_are_masked_in_any_line() -> None:
    line = masked("GET rtsp://admin:hunter2@10.0.0.5/live with Bearer abc.def-ghi and "
                  "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
    assert "hunter2" not in line and "abc.def-ghi" not in line and "eyJ" not in line
    assert "rtsp://admin:<password>@10.0.0.5/live" in line
