"""The messages of one node's part of a query: the signed request it receives, and opening
its sealed answer."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from contract.queries import (
    LogConsistency,
    QueryRequest,
    SealedResult,
    SignedQuery,
    SignedResult,
    result_info,
    targets_info,
)
from contract.warrants import Kind, SignedWarrant, Window
from privacy.sealing import RecipientKey, open_sealed, parse_public, seal
from privacy.signing import SigningKey


def build_query(key: SigningKey, *, query_id: str, node_id: str, site: str, sealing_key: str,
                kind: Kind, cameras: list[str], window: Window, issued_at: datetime,
                warrant: SignedWarrant, receipt: dict[str, Any], opening: str,
                targets: list[str], references: dict[str, str] | None = None,
                consistency: LogConsistency | None = None) -> SignedQuery:
    """Seal ``targets`` (and, for a face search, the base64 reference images by target) to the
    node's key, then sign the whole request with ``key``."""
    payload = {"targets": targets, "references": references or {}}
    sealed = seal(parse_public(sealing_key), json.dumps(payload).encode(),
                  targets_info(query_id, node_id))
    request = QueryRequest(
        query_id=query_id, node_id=node_id, site=site, kind=kind, cameras=tuple(cameras),
        window=window, issued_at=issued_at, warrant=warrant, warrant_receipt=receipt,
        warrant_opening=opening, log_consistency=consistency,
        sealed_targets=base64.b64encode(sealed).decode())
    return SignedQuery(request=request, signature=request.sign(key))


def open_result(answer: dict[str, Any], key: RecipientKey, query_id: str, node_id: str
                ) -> SignedResult:
    """Open a node's sealed answer (only the coordinator's key can)."""
    sealed = SealedResult.model_validate(answer)
    blob = open_sealed(key, base64.b64decode(sealed.sealed, validate=True),
                       result_info(query_id, node_id))
    return SignedResult.model_validate_json(blob)
