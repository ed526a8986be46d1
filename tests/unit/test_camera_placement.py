"""Camera placements (position, heading, field of view) and video-wall arrangements are checked
at the door: an impossible latitude, longitude, heading or angle, a placement of a camera the
node does not enrol or of one camera twice, a wall that is not square, are refused with a
message naming what is wrong; a node states its placements from its configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contract.camera_placement import CameraPlacement, Placement
from coordinator.services.requests import NewNode, WallArrangement
from kernel.errors import ConfigError
from nodes.camera_notices import enrolled_cameras, placement_line, placements
from nodes.config import load_settings
from nodes.identity import load_identity

GATE = {"camera": "gate", "latitude": 52.5163, "longitude": 13.3777, "heading": 270,
        "field_of_view": 90}


def node(tmp_path: Path, placements: list[dict[str, Any]]) -> NewNode:
    keys = load_identity(tmp_path / "keys").public()
    return NewNode.model_validate({
        "node_id": "alpha", "site_id": "site-a", "cameras": ["gate", "lobby"],
        "identity_key": keys["identity_key"], "sealing_key": keys["sealing_key"],
        "camera_notices": [{"camera": "gate"}, {"camera": "lobby"}],
        "camera_placements": placements})


def test_a_placement_in_range_is_kept_with_a_default_range() -> None:
    placed = CameraPlacement.model_validate(GATE)
    assert (placed.latitude, placed.longitude, placed.heading, placed.range_m) == (
        52.5163, 13.3777, 270, 40)
    assert CameraPlacement.model_validate({**GATE, "heading": 359.9, "field_of_view": 360,
                                           "latitude": -90, "longitude": 180})


@pytest.mark.parametrize(("field", "value"), [
    ("latitude", 90.01), ("latitude", -91), ("longitude", 180.5), ("longitude", -200),
    ("heading", 360), ("heading", -1), ("field_of_view", 0), ("field_of_view", 361),
    ("range_m", 0), ("latitude", float("nan")), ("longitude", float("inf")),
    ("latitude", "north"), ("camera", "Gate 1"),
])
def test_an_impossible_placement_is_refused_naming_its_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        CameraPlacement.model_validate({**GATE, field: value})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="tilt"):
        CameraPlacement.model_validate({**GATE, "tilt": 10})


def test_enrolment_places_only_its_own_cameras_and_each_once(tmp_path: Path) -> None:
    enrolled = node(tmp_path, [GATE])
    assert [p.camera for p in enrolled.camera_placements] == ["gate"]
    assert node(tmp_path, []).camera_placements == []  # unplaced cameras are allowed
    with pytest.raises(ValidationError, match="camera_placements name cameras not enrolled: "
                                              "north-gate"):
        node(tmp_path, [{**GATE, "camera": "north-gate"}])
    with pytest.raises(ValidationError, match="place a camera more than once: gate"):
        node(tmp_path, [GATE, {**GATE, "heading": 10}])
    with pytest.raises(ValidationError, match=r"camera_placements\.0\.latitude"):
        node(tmp_path, [{**GATE, "latitude": 95}])


def test_a_wall_is_square_of_one_to_four_with_camera_tiles() -> None:
    wall = WallArrangement.model_validate({"size": 2, "tiles": ["alpha/gate", None, None,
                                                                "alpha/lobby"]})
    assert wall.tiles[3] == "alpha/lobby"
    with pytest.raises(ValidationError, match="a 2x2 wall has 4 tiles, not 3"):
        WallArrangement.model_validate({"size": 2, "tiles": ["alpha/gate", None, None]})
    with pytest.raises(ValidationError, match="size"):
        WallArrangement.model_validate({"size": 5, "tiles": [None] * 25})
    with pytest.raises(ValidationError, match="node_id/camera"):
        WallArrangement.model_validate({"size": 1, "tiles": ["../../etc/passwd"]})
    with pytest.raises(ValidationError, match="size"):
        WallArrangement.model_validate({"size": 0, "tiles": []})


def test_the_node_states_its_placements_from_its_configuration(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f'site_id = "site-a"\ndata_dir = "{tmp_path / "data"}"\n'
                      '[[cameras]]\nid = "gate"\nsource = "synthetic:"\n'
                      '[cameras.placement]\nlatitude = 52.5163\nlongitude = 13.3777\n'
                      'heading = 270\nfield_of_view = 90\n'
                      '[[cameras]]\nid = "lobby"\nsource = "synthetic:"\n')
    stated = placements(load_settings(config))
    assert [p.model_dump() for p in stated] == [{**GATE, "range_m": 40}]  # lobby: not placed
    config.write_text(config.read_text().replace("heading = 270", "heading = 360"))
    with pytest.raises(ConfigError, match=r"cameras\.0\.placement\.heading"):
        load_settings(config)


def test_a_placement_written_as_a_config_line_is_what_enrolment_sends(tmp_path: Path) -> None:
    """The demo's and the tests' node configs place cameras with ``placement_line``; the node
    reads it back and enrolment carries it beside the notices, the analytics table after it
    still the camera's own."""
    placed = Placement(latitude=50.00006, longitude=7.997, heading=90, field_of_view=70,
                       range_m=60)
    config = tmp_path / "node.toml"
    config.write_text(f'site_id = "site-a"\ndata_dir = "{tmp_path / "data"}"\n'
                      '[[cameras]]\nid = "gate"\nsource = "synthetic:"\n'
                      f'{placement_line(placed)}[cameras.analytics]\ndetector = "motion"\n'
                      '[[cameras]]\nid = "lobby"\nsource = "synthetic:"\n')
    settings = load_settings(config)
    assert settings.cameras[0].analytics.detector == "motion"
    sent = enrolled_cameras(settings)
    assert sent["camera_placements"] == [{"camera": "gate", **placed.model_dump()}]
    assert [n["camera"] for n in sent["camera_notices"]] == ["gate", "lobby"]
    assert node(tmp_path, sent["camera_placements"]).camera_placements[0].range_m == 60
