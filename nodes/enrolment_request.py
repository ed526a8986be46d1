"""The node's enrolment request: what ``safecity node keys`` prints and the city admin posts
as it is (``POST /nodes``, or the admin page): the node's id, its site, its cameras with their
public notices and placements, and its public keys (created on first use). The demo and the
tests enrol their nodes with this same document."""

from __future__ import annotations

from typing import Any

from nodes.camera_notices import enrolled_cameras
from nodes.config import NodeSettings
from nodes.identity import load_identity
from nodes.learning.flower_key import flower_key


def default_node_id(settings: NodeSettings) -> str:
    return f"{settings.site_id}-node"


def enrolment_request(settings: NodeSettings, node_id: str | None = None) -> dict[str, Any]:
    """The document for ``node_id`` (default: SITE_ID-node)."""
    cameras = enrolled_cameras(settings)
    request: dict[str, Any] = {
        "node_id": node_id or default_node_id(settings), "site_id": settings.site_id,
        "cameras": [n["camera"] for n in cameras["camera_notices"]]}
    request |= load_identity(settings.keys_dir).public()
    request["flower_key"] = flower_key(settings.keys_dir)[1]  # the SuperNode's, for training
    return request | cameras
