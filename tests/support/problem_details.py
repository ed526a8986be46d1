"""An API refusal as the coordinator sends it: RFC 9457 problem details with a code."""

from __future__ import annotations

from typing import Any


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["detail"], body
    return body
