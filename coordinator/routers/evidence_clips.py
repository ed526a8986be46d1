"""``/alerts/{id}/clip``: an alert's evidence clip, asked of its node on request (logged
before it is sent), its state and frames, and each frame's redacted JPEG (an operator's first
fetch of a clip logged). The same permission as the incidents' evidence; the use cases are in
``coordinator.clip_requests`` and ``coordinator.evidence_clips``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, Response

from audit.routes import Index
from contract.evidence_clips import MAX_FRAMES
from coordinator import evidence_clips
from coordinator.auth import Principal, require, service
from coordinator.clip_requests import request_clip
from coordinator.evidence_clips import ClipView
from coordinator.roles import Permission
from coordinator.service import Coordinator
from coordinator.web.templates import PAGE_HEADERS

router = APIRouter(prefix="/alerts", tags=["alerts"])
RequestId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


@router.post("/{alert_id}/clip", status_code=202, response_model=ClipView,
             summary="Ask the alert's node for a short redacted clip of it (logged first)",
             responses={200: {"description": "a request of the alert is pending or answered: "
                                             "that one"}})
def ask(alert_id: Index, who: Principal = Depends(require(Permission.ALERT_READ)),
        svc: Coordinator = Depends(service)) -> Response:
    clip, new = request_clip(svc, who, alert_id)
    return JSONResponse(clip.model_dump(mode="json"), status_code=202 if new else 200)


@router.get("/{alert_id}/clip", summary="The alert's newest clip request, its state and frames",
            response_model=ClipView)
def shown(alert_id: Index, _: Principal = Depends(require(Permission.ALERT_READ)),
          svc: Coordinator = Depends(service)) -> Response:
    """Not cached, as the frames are not: it names who asked for which moment's footage."""
    return JSONResponse(evidence_clips.of_alert(svc, alert_id).model_dump(mode="json"),
                        headers=PAGE_HEADERS)


@router.get("/{alert_id}/clips/{request_id}/{index}.jpg",
            summary="One frame of an alert's clip: the redacted JPEG its node signed",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def frame(alert_id: Index, request_id: RequestId,
          index: Annotated[int, Path(ge=0, lt=MAX_FRAMES)],
          who: Principal = Depends(require(Permission.ALERT_READ)),
          svc: Coordinator = Depends(service)) -> Response:
    return Response(evidence_clips.frame_picture(svc, who, alert_id, request_id, index),
                    media_type="image/jpeg", headers=PAGE_HEADERS)
