"""A node enrolled from its configuration (as ``safecity node keys`` hands it over, and as the
demo and the tests' world enrol) brings its cameras' placements: the control room's map places
the cameras its config places and lists the others as not placed."""

from __future__ import annotations

from pathlib import Path

from contract.camera_placement import Placement
from tests.support.world import embedded_world

GATE = Placement(latitude=50.00006, longitude=7.997, heading=90, field_of_view=70, range_m=60)


def test_a_node_enrolled_from_its_config_is_placed_on_the_map(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        node = world.add_node("alpha", "site-a", placements={"gate": GATE})
        shown = world.client.get("/control-room/map/cameras.json", headers=world.as_("operator"))
        assert shown.status_code == 200, shown.text
        placed, unplaced = shown.json()["placed"], shown.json()["unplaced"]
        assert [(c["camera"], c["node_id"]) for c in placed] == [("gate", node.node_id)]
        assert {k: placed[0][k] for k in GATE.model_dump()} == GATE.model_dump()
        assert [c["camera"] for c in unplaced] == ["lobby"]
    finally:
        world.close()
