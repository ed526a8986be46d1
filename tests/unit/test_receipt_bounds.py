"""A request's log receipt is bounded in size and depth at validation (``contract.receipts``),
so an unsigned request carrying megabytes, or nesting thousands deep, is refused before its
signature's canonical JSON walks it (the red team's ``clip_huge_request``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from contract.evidence_clips import ClipRequest
from contract.queries import QueryRequest
from contract.receipts import MAX_RECEIPT_CHARS, MAX_RECEIPT_DEPTH


def nested(depth: int) -> dict[str, Any]:
    top: dict[str, Any] = {}
    deep = top
    for _ in range(depth - 1):
        deep["a"] = {}
        deep = deep["a"]
    return top


def clip_request(receipt: Any) -> dict[str, Any]:
    return {"request_id": str(uuid.uuid4()), "node_id": "alpha", "site": "site-a",
            "camera": "gate", "seq": 1, "requester": "op-7",
            "issued_at": datetime(2026, 12, 6, tzinfo=UTC).isoformat(), "receipt": receipt}


def receipt_errors(model: type[ClipRequest | QueryRequest], field: str, receipt: Any
                   ) -> list[str]:
    message = clip_request(receipt) if model is ClipRequest else {field: receipt}
    try:
        model.model_validate(message)
    except ValidationError as exc:
        return [e["msg"] for e in exc.errors() if e["loc"][:1] == (field,)]
    return []


def test_a_receipt_of_a_real_shape_passes() -> None:
    receipt = {"entry": {"scope": {"window": {"start": "x", "end": "y"}}, "commitments": {
        "seq": "ab" * 32}}, "proof": ["cd" * 22] * 40, "checkpoint": "e" * 2000}
    assert ClipRequest.model_validate(clip_request(receipt)).receipt == receipt
    assert receipt_errors(QueryRequest, "warrant_receipt", receipt) == []


@pytest.mark.parametrize("model, field", [(ClipRequest, "receipt"),
                                          (QueryRequest, "warrant_receipt")])
@pytest.mark.parametrize("receipt, words", [
    ({"padding": "x" * (MAX_RECEIPT_CHARS + 1)}, "characters"),
    ({"proof": ["ab"] * (MAX_RECEIPT_CHARS // 2 + 1)}, "values"),
    ({"p" * (MAX_RECEIPT_CHARS + 1): 1}, "characters"),
    (nested(MAX_RECEIPT_DEPTH + 1), "deep"),
    (nested(5000), "deep"),  # once a RecursionError in the signature's canonical JSON
])
def test_an_oversized_or_deep_receipt_is_refused_at_validation(
        model: type[ClipRequest | QueryRequest], field: str, receipt: dict[str, Any],
        words: str) -> None:
    [error] = receipt_errors(model, field, receipt)
    assert words in error, error
