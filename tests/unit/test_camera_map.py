"""The control room map's layout: boxes as wide as their longest label (within bounds), long
names shortened with the open count kept, boxes side by side without overlap. (What the browser
draws is checked in tests/e2e/test_web_pages.py.)"""

from __future__ import annotations

from coordinator.web.camera_map import CHAR, LABEL_X, MAX_BOX, MIN_BOX, PAD, layout


def camera(site: str, name: str, open_incidents: int = 0, active: bool = True) -> dict:
    return {"site": site, "camera": name, "open": open_incidents, "active": active}


def test_boxes_fit_their_labels_and_do_not_overlap() -> None:
    drawn = layout([camera("a", "gate"), camera("b", "market-square", 28),
                    camera("c", "x" * 64, 1234), camera("a", "lobby", active=False)])
    a, b, c = drawn.sites
    assert [m.label for m in a.cameras] == ["gate (0 open)", "lobby (0 open)"]
    assert [m.state for m in a.cameras] == ["active", "withdrawn"]
    assert a.width == MIN_BOX
    assert b.cameras[0].label == "market-square (28 open)" and b.cameras[0].state == "alerting"
    assert b.width >= LABEL_X + CHAR * len("market-square (28 open)") + PAD > MIN_BOX
    assert c.width == MAX_BOX
    assert c.cameras[0].label.endswith("\u2026 (1234 open)")
    for box in drawn.sites:
        for mark in box.cameras:
            assert LABEL_X + CHAR * len(mark.label) + PAD <= box.width
    assert a.x + a.width < b.x and b.x + b.width < c.x and c.x + c.width < drawn.width
    assert a.height == 30 + 36 * 2 and drawn.height == 60 + 36 * 4


def test_a_long_site_name_is_shortened_and_no_camera_still_draws() -> None:
    drawn = layout([camera("s" * 64, "gate")])
    assert drawn.sites[0].label.endswith("\u2026") and len(drawn.sites[0].label) < 64
    assert layout([]).sites == [] and layout([]).width == 200
