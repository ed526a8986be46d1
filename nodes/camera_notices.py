"""Each camera's public notice, stated from what the node is configured to do (its detector,
rules, plate reading and retention), so the notice cannot drift from the configuration; and
each camera's placement (position, heading, field of view) from the same configuration, for
the control room's map. Both go to the coordinator with the node's keys at enrolment."""

from __future__ import annotations

from contract.camera_placement import CameraPlacement, Placement
from contract.notices import CameraNotice
from nodes.config import CameraConfig, NodeSettings

DETECTORS = {"nanodet": "people, vehicles and left bags (object detector)",
             "motion": "moving people and vehicles (motion)",
             "hog": "people (HOG detector)", "onnx": "objects (the site's own detector)"}


def detects(settings: NodeSettings, camera: CameraConfig) -> tuple[str, ...]:
    found = ["faces and licence plates, to hide them", DETECTORS[camera.analytics.detector]]
    found += sorted({rule.type.replace("_", " ") for rule in camera.analytics.rules})
    if camera.analytics.rules:
        found.append("sound events (bangs, shouts) where the camera has sound")
    if settings.plate_sightings:
        found.append("licence plates read before blurring, kept as keyed hashes")
    return tuple(found)


def notices(settings: NodeSettings) -> list[CameraNotice]:
    return [CameraNotice(
        camera=camera.id, location=camera.location, purpose=camera.purpose,
        detects=detects(settings, camera),
        retention_days={"raw_video": camera.retention_days if camera.retention_days is not None
                        else settings.retention_days,
                        "trajectories": settings.trajectory_retention_days})
        for camera in settings.cameras] + [CameraNotice(
        # a body-worn camera is enrolled as one of the node's cameras, so that its clips'
        # redacted stills reach the control room and its notice is published like any other
        camera=device.id, location="worn by an officer of the site",
        purpose="evidence of what an officer saw; recorded by the officer, not watched live",
        detects=("faces and licence plates, to hide them",),
        retention_days={"raw_video": settings.retention_days})
        for device in settings.body_cameras]


def placements(settings: NodeSettings) -> list[CameraPlacement]:
    """Where each placed camera stands and looks, for enrolment (the control room's map)."""
    return [CameraPlacement(camera=camera.id, **camera.placement.model_dump())
            for camera in settings.cameras if camera.placement is not None]


def enrolled_cameras(settings: NodeSettings) -> dict[str, list[dict[str, object]]]:
    """The cameras' part of a node's enrolment (``POST /nodes``): their notices and placements,
    as ``safecity node keys`` prints them and the demo and the tests send them."""
    return {"camera_notices": [n.model_dump(mode="json") for n in notices(settings)],
            "camera_placements": [p.model_dump(mode="json") for p in placements(settings)]}


def placement_line(placement: Placement) -> str:
    """A camera's placement as a line of its ``[[cameras]]`` table in node.toml (an inline
    table, so it can stand before the camera's ``[cameras.analytics]``), for configurations
    written by the demo and the tests."""
    fields = ", ".join(f"{key} = {value!r}" for key, value in placement.model_dump().items())
    return f"placement = {{{fields}}}\n"
