"""Each camera's public notice is stated from the node's own configuration, checked at
enrolment, and published on the transparency portal."""

from __future__ import annotations

from pathlib import Path

from nodes.camera_notices import notices
from nodes.config import load_settings
from nodes.identity import load_identity
from tests.support.world import embedded_world


def test_a_notice_says_what_the_configuration_does(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        'site_id = "site-a"\nretention_days = 14\nplate_sightings = false\n'
        'trajectory_retention_days = 3\n'
        '[[cameras]]\nid = "gate"\nsource = "synthetic:"\nlocation = "north gate"\n'
        'purpose = "restricted area"\nretention_days = 5\n'
        '[cameras.analytics]\ndetector = "hog"\n'
        '[[cameras.analytics.zones]]\nid = "yard"\npolygon = [[0,0],[1,0],[1,1]]\n'
        '[[cameras.analytics.rules]]\ntype = "restricted_area"\nid = "r"\nzone = "yard"\n'
        '[[cameras]]\nid = "lobby"\nsource = "synthetic:"\n')
    gate, lobby = notices(load_settings(config))
    assert (gate.location, gate.purpose) == ("north gate", "restricted area")
    assert "people (HOG detector)" in gate.detects and "restricted area" in gate.detects
    assert not any("plates read" in d for d in gate.detects)  # plate sightings are off
    assert gate.retention_days == {"raw_video": 5, "trajectories": 3}
    assert lobby.retention_days["raw_video"] == 14 and lobby.location == ""
    assert "people, vehicles and left bags (object detector)" in lobby.detects


def test_enrolment_refuses_a_notice_for_a_camera_it_does_not_enrol(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        node = world.add_node("alpha", "site-a")
        shown = world.client.get("/portal/report.json")
        assert shown.status_code == 200
        page = world.client.get("/portal").text
        assert "raw video: 30" in page and node.settings.site_id in page
        keys = load_identity(tmp_path / "beta-keys").public()
        body = {"node_id": "beta-1", "site_id": "site-b", "cameras": ["door"],
                "identity_key": keys["identity_key"], "sealing_key": keys["sealing_key"],
                "camera_notices": [{"camera": "elsewhere", "location": "somewhere"}]}
        refused = world.client.post("/nodes", headers=world.as_("admin"), json=body)
        assert refused.status_code == 422
        assert "camera_notices name cameras not enrolled: elsewhere" in refused.text
        # a camera without its notice showed "not stated" for every field (issue 24)
        silent = world.client.post("/nodes", headers=world.as_("admin"), json=body | {
            "cameras": ["door", "yard"], "camera_notices": [{"camera": "door"}]})
        assert silent.status_code == 422 and "camera_notices lack cameras yard" in silent.text
        none = world.client.post("/nodes", headers=world.as_("admin"),
                                 json={k: v for k, v in body.items() if k != "camera_notices"})
        assert none.status_code == 422 and "camera_notices" in none.text
    finally:
        world.close()
