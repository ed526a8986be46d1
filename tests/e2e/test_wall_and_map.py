"""The control room's video wall and offline map in headless Chromium, against a served
coordinator with nodes enrolled through ``POST /nodes`` (their cameras placed there) and
snapshots and events signed by those nodes' keys as a node sends them.

The wall: sized 1x1 to 4x4, cameras chosen and moved by keyboard, saved and found again after a
reload; a camera whose first snapshot arrives after the page loaded shows it without a reload;
an alert pops its camera onto the wall. The map: cameras at their positions (the pixel offsets
between them match their latitude and longitude), the camera list and the unplaced camera,
an incident pulsing, 300 cameras clustered, and no request to any origin but the
coordinator's. Every page: no console errors, labelled controls, text contrast >= 4.5:1, focus
outlines >= 3:1, controls reachable by Tab. Screenshots in test-artifacts/web."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from contract.camera_placement import Placement
from coordinator.alert_intake import accept
from coordinator.config import MqttSettings
from coordinator.device_intake import take_device
from coordinator.iot_devices import IotSettings
from coordinator.live_views import accept_snapshot
from nodes.camera_notices import placement_line
from nodes.config import load_settings
from nodes.enrolment_request import enrolment_request
from nodes.event_sender import message
from nodes.identity import load_identity
from nodes.live_view import LiveViewSender
from privacy.signing import SigningKey
from tests.support.browser import Watched, log_in, serving
from tests.support.incident_events import event as incident_event
from tests.support.page_checks import tab_reaches, text_contrast_failures
from tests.support.world import PASSWORD, World, embedded_world

# Berlin's Mitte, around the Alexanderplatz: the test city's outline and cameras
OUTLINE = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": "Mitte"}, "geometry": {
        "type": "Polygon", "coordinates": [[[13.396, 52.512], [13.412, 52.512],
                                            [13.412, 52.523], [13.396, 52.523],
                                            [13.396, 52.512]]]}},
    {"type": "Feature", "properties": {"name": "High Street"}, "geometry": {
        "type": "LineString", "coordinates": [[13.398, 52.518], [13.410, 52.518]]}}]}


TILE = cv2.imencode(".png", np.full((256, 256, 3), 235, np.uint8))[1].tobytes()


def enrol(city: World, name: str, site: str, cameras: list[str],
          placements: list[dict[str, Any]]) -> tuple[str, SigningKey]:
    """Enrol a node configured with ``cameras`` placed as ``placements`` say, as the city's
    admin does: what ``safecity node keys`` prints, posted (``POST /nodes``); its id and
    signing key."""
    node_id = f"{name}-{city.tag}"
    placed = {p["camera"]: Placement.model_validate({k: v for k, v in p.items()
                                                     if k != "camera"}) for p in placements}
    config = city.root / f"{node_id}.toml"
    config.write_text(f'site_id = "{site}"\ndata_dir = "{city.root / node_id}"\n' + "".join(
        f'[[cameras]]\nid = "{c}"\nsource = "synthetic:"\n'
        + (placement_line(placed[c]) if c in placed else "") for c in cameras))
    settings = load_settings(config)
    response = city.client.post("/nodes", headers=city.as_("admin"),
                                json=enrolment_request(settings, node_id))
    assert response.status_code == 201, response.text
    return node_id, load_identity(settings.keys_dir).signing


def alert(city: World, node_id: str, site: str, key: SigningKey, camera: str) -> None:
    """A restricted-area event at ``camera``, signed by its node and taken in."""
    accept(city.svc, message([incident_event(datetime.now(UTC), camera=camera)], node_id,
                             site, key))


def snapshot(city: World, node_id: str, site: str, key: SigningKey, camera: str) -> None:
    """A redacted frame (flat grey: what a node sends after redaction) as ``camera``'s view."""
    live = LiveViewSender(lambda body: accept_snapshot(city.svc, body), node_id, site, key)
    live.offer(camera, np.full((360, 640, 3), 90, np.uint8))
    live.send_pending()


def operator_on(browser: Browser, site: str, path: str) -> Watched:
    watched = Watched(browser.new_context().new_page())
    log_in(watched, site, "operator", PASSWORD)
    watched.page.goto(f"{site}{path}")
    return watched


def checked(watched: Watched, focusable: str) -> None:
    """Labelled, readable, and the focus outline of ``focusable`` visible (>= 3:1)."""
    watched.assert_accessible()
    assert text_contrast_failures(watched.page) == []
    watched.page.focus(focusable)
    assert watched.outline_contrast(focusable) >= 3.0


def tiles(page: Page) -> list[str | None]:
    return page.locator("#wall .tile").evaluate_all(
        "(all) => all.map((t) => t.dataset.camera || null)")


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    outline = tmp_path / "mitte.geojson"
    outline.write_text(json.dumps(OUTLINE))
    world = embedded_world(tmp_path, options={"basemap_file": outline})
    yield world
    world.close()


def test_the_video_wall_is_arranged_saved_refreshed_and_takes_an_incident(
        browser: Browser, city: World) -> None:
    cameras = ["entrance", "gate", "lobby", "platform", "yard"]
    node_id, key = enrol(city, "alpha", "site-a", cameras, [])
    snapshot(city, node_id, "site-a", key, "gate")  # before the page loads; lobby has none
    # the city's time, not the browser's (UTC here): half an hour apart in the minutes
    city.svc.settings = city.svc.settings.model_copy(update={"time_zone": "Asia/Kolkata"})
    with serving(city.svc) as site:
        operator = operator_on(browser, site, "/control-room/wall")
        page = operator.page
        wall = page.locator("#wall")
        expect(wall).to_have_attribute("data-ready", "yes")
        # before anything is saved: the smallest grid that holds the five cameras, 3x3
        expect(wall.locator(".tile")).to_have_count(9)
        assert tiles(page)[:5] == [f"{node_id}/{c}" for c in cameras]
        gate = wall.locator(f'.tile[data-camera="{node_id}/gate"]')
        page.wait_for_function(f"""() => document.querySelector(
            '#wall .tile[data-camera="{node_id}/gate"] img')?.naturalWidth === 640""")
        expect(gate.locator("img")).to_have_attribute(
            "alt", "Redacted live view of camera gate at site-a")
        taken = datetime.fromisoformat(gate.locator("time").get_attribute("datetime") or "")
        assert taken.astimezone(ZoneInfo("Asia/Kolkata")).strftime(":%M:%S") in \
            gate.locator("time").inner_text()
        lobby = wall.locator(f'.tile[data-camera="{node_id}/lobby"]')
        expect(lobby.locator(".placeholder")).to_have_text("No snapshot from lobby at site-a yet.")
        expect(page.locator("#wall-feed")).to_have_attribute("data-live", "yes")
        checked(operator, "#tile-0")
        operator.screenshot("wall-3x3")

        # the lobby's first snapshot comes after the page loaded: it shows, with no reload
        snapshot(city, node_id, "site-a", key, "lobby")
        expect(lobby.locator("img")).to_have_count(1, timeout=10_000)
        page.wait_for_function(f"""() => document.querySelector(
            '#wall .tile[data-camera="{node_id}/lobby"] img')?.naturalWidth === 640""")

        # by keyboard: the grid 2x2, the first tile's camera chosen, a tile moved, saved
        reached = tab_reaches(page, 40)
        for control in ("wall-size", "wall-save", "tile-0", "tile-8",
                        "Move tile 1 (row 1, column 1) later"):
            assert control in reached, reached
        page.focus("#wall-size")
        page.keyboard.press("ArrowUp")  # 3 -> 2
        expect(wall.locator(".tile")).to_have_count(4)
        expect(page.locator("#wall-size")).to_be_focused()
        assert tiles(page) == [f"{node_id}/{c}" for c in cameras[:4]]
        expect(page.locator("#wall-saved")).to_have_text("Changed, not saved yet.")
        page.focus("#tile-0")
        page.keyboard.press("End")  # the last camera in the list: yard
        expect(page.locator("#tile-0")).to_have_value(f"{node_id}/yard")
        expect(page.locator("#tile-0")).to_be_focused()
        page.get_by_role("button", name="Move tile 1 (row 1, column 1) later").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="Move tile 2 (row 1, column 2) later")
               ).to_be_focused()
        arranged = [f"{node_id}/{c}" for c in ("gate", "yard", "lobby", "platform")]
        assert tiles(page) == arranged
        page.focus("#wall-save")
        page.keyboard.press("Enter")
        expect(page.locator("#wall-saved")).to_have_text("Saved: a 2 × 2 wall.")
        operator.screenshot("wall-2x2-saved")

        page.reload()
        expect(wall).to_have_attribute("data-ready", "yes")
        assert tiles(page) == arranged
        expect(page.locator("#wall-size")).to_have_value("2")
        for size, count in (("1", 1), ("4", 16)):  # every size from 1x1 to 4x4
            page.select_option("#wall-size", size)
            expect(wall.locator(".tile")).to_have_count(count)
        assert tiles(page)[:5] == [arranged[0], None, None, None, None]  # 1x1 kept one
        page.reload()  # not saved: the 2x2 wall again
        expect(wall).to_have_attribute("data-ready", "yes")
        assert tiles(page) == arranged
        # by mouse too: the first tile dragged onto the second swaps them
        page.drag_and_drop('#wall .tile[data-index="0"]', '#wall .tile[data-index="1"]')
        expect(wall.locator('.tile[data-index="0"]')).to_have_attribute(
            "data-camera", arranged[1])
        assert tiles(page) == [arranged[1], arranged[0], arranged[2], arranged[3]]
        page.reload()
        expect(wall).to_have_attribute("data-ready", "yes")
        assert tiles(page) == arranged

        # an incident at the entrance, which is not on the wall: it takes the last tile
        alert(city, node_id, "site-a", key, "entrance")
        popped = wall.locator(".tile.incident")
        expect(popped).to_have_count(1, timeout=10_000)
        expect(popped).to_have_attribute("data-camera", f"{node_id}/entrance")
        expect(popped).to_have_attribute("data-index", "3")
        expect(popped.locator(".incident-note")).to_contain_text(
            "Incident: restricted area at entrance (site-a).")
        expect(page.locator("#wall-feed")).to_contain_text("on tile 4 (row 2, column 2)")
        assert text_contrast_failures(page) == []
        operator.screenshot("wall-incident")
        # saving keeps the operator's arrangement, not the incident's tile
        page.focus("#wall-save")
        page.keyboard.press("Enter")
        expect(page.locator("#wall-saved")).to_have_text("Saved: a 2 × 2 wall.")
        saved = city.client.get("/control-room/wall/layout", headers=city.as_("operator"))
        assert saved.json() == {"size": 2, "tiles": arranged}
        dismiss = page.get_by_role("button", name="Dismiss the incident on tile 4 (row 2, "
                                                  "column 2)")
        dismiss.focus()
        page.keyboard.press("Enter")
        expect(wall.locator(".tile.incident")).to_have_count(0)
        assert tiles(page) == arranged
        expect(page.locator("#tile-3")).to_be_focused()

        # an incident at a camera on the wall: its own tile lights up
        alert(city, node_id, "site-a", key, "yard")
        expect(popped).to_have_attribute("data-camera", f"{node_id}/yard", timeout=10_000)
        expect(popped).to_have_attribute("data-index", "1")
        assert tiles(page) == arranged
        operator.assert_clean()

    # the server keeps only walls of enrolled cameras, square, for the operator who saved them
    refused = city.client.put("/control-room/wall/layout", headers=city.as_("operator"),
                              json={"size": 1, "tiles": [f"{node_id}/nowhere"]})
    assert refused.status_code == 422
    assert f"not an enrolled camera: {node_id}/nowhere" in refused.json()["detail"]
    assert city.client.put("/control-room/wall/layout", headers=city.as_("operator"),
                           json={"size": 2, "tiles": [None]}).status_code == 422
    assert city.client.get("/control-room/wall/layout",
                           headers=city.as_("police")).status_code == 403


def center(page: Page, title: str, marker: str = "camera-marker") -> tuple[float, float]:
    box = page.locator(f'.{marker}[title^="{title}"]').bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_the_map_draws_the_cameras_where_they_stand_and_an_incident_pulses(
        browser: Browser, city: World) -> None:
    placed = [{"camera": "gate", "latitude": 52.5170, "longitude": 13.4000, "heading": 90,
               "field_of_view": 60, "range_m": 120},
              {"camera": "lobby", "latitude": 52.5170, "longitude": 13.4080, "heading": 180,
               "field_of_view": 90},
              {"camera": "platform", "latitude": 52.5140, "longitude": 13.4000,
               "heading": 0, "field_of_view": 120}]
    node_id, key = enrol(city, "alpha", "site-a", ["exit", "gate", "lobby", "platform"], placed)
    with serving(city.svc) as site:
        operator = Watched(browser.new_context().new_page())
        page = operator.page
        log_in(operator, site, "operator", PASSWORD)
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{site}/control-room/map")
        expect(page.locator("#city-map")).to_have_attribute("data-ready", "yes")
        expect(page.locator(".camera-marker")).to_have_count(3)
        expect(page.locator("#city-map path.outline")).to_have_count(2)  # district, street
        # east is right, south is down, and the offsets keep Web Mercator's proportions:
        # 0.008 degrees of longitude against 0.003 of latitude at 52.517 N
        gate, lobby, platform = (center(page, f"Camera {c} at site-a")
                                 for c in ("gate", "lobby", "platform"))
        east, south = lobby[0] - gate[0], platform[1] - gate[1]
        assert east > 50 and abs(lobby[1] - gate[1]) < 1.5
        assert south > 20 and abs(platform[0] - gate[0]) < 1.5
        expected = 0.008 / (math.degrees(math.log(math.tan(math.pi / 4 + math.radians(
            52.5170) / 2))) - math.degrees(math.log(math.tan(math.pi / 4 + math.radians(
                52.5140) / 2))))
        assert abs(east / south - expected) / expected < 0.05, (east / south, expected)
        # the camera without a position is named, not lost
        expect(page.locator("#unplaced li")).to_have_text("exit at site-a (0 open incidents)")
        expect(page.locator("#map-cameras tbody tr")).to_have_count(3)
        # each camera's field of view: the gate (heading 90, 60 degrees, 120 m) looks east
        expect(page.locator("#city-map path.fov")).to_have_count(3)
        cones = [b for b in (c.bounding_box() for c in page.locator(
            "#city-map path.fov").all()) if b is not None]
        facing_east = [b for b in cones if abs(b["x"] - gate[0]) < 3 and b["width"] > 20
                       and abs(b["y"] + b["height"] / 2 - gate[1]) < 3]  # apex at its left
        assert len(facing_east) == 1, (gate, cones)
        expect(page.locator("#map-feed")).to_have_attribute("data-live", "yes")
        checked(operator, '.camera-marker[title^="Camera gate at site-a"]')
        operator.screenshot("map")
        reached = tab_reaches(page, 30)
        assert "city-map" in reached and "Zoom in" in reached, reached

        # an incident at the gate: its marker pulses and says so; the table counts it
        alert(city, node_id, "site-a", key, "gate")
        pulsing = page.locator(".camera-marker.open")
        expect(pulsing).to_have_count(1, timeout=10_000)
        expect(pulsing).to_have_attribute(
            "title", "Camera gate at site-a, 1 open incident")
        assert pulsing.evaluate("(e) => getComputedStyle(e, '::after').animationName"
                                ) == "pulse"
        expect(page.locator(f'#map-cameras tr[data-camera="{node_id}/gate"] .open-count')
               ).to_have_text("1")
        pulsing.focus()
        page.keyboard.press("Enter")  # a marker is a button: its popup opens
        expect(page.locator(".leaflet-popup-content")).to_contain_text(
            "Camera gate at site-a, 1 open incident")
        expect(page.locator(".leaflet-popup")).to_have_css("opacity", "1")  # faded in
        assert text_contrast_failures(page) == []
        expect(page.get_by_role("link", name="Incidents of gate")).to_have_attribute(
            "href", "/control-room?site_id=site-a&camera=gate")
        # an SOS press at a button on the square: a pulsing square where the button stands
        city.svc.settings = city.svc.settings.model_copy(update={
            "mqtt": MqttSettings(host="broker.city.example"),
            "iot": IotSettings(devices=[{"id": "sos-1", "kind": "sos_button", "site": "site-a",
                                         "latitude": 52.5155, "longitude": 13.4040}])})
        take_device(city.svc, "city/devices/sos-1/sos",
                    json.dumps({"time": datetime.now(UTC).isoformat()}).encode())
        button = page.locator(".device-marker.open")
        expect(button).to_have_count(1, timeout=20_000)
        expect(button).to_have_attribute("title",
                                         "sos at device sos-1 (site-a), 1 open incident")
        spot = center(page, "sos at device sos-1", "device-marker")
        assert gate[0] < spot[0] < lobby[0] and gate[1] < spot[1] < platform[1]
        operator.screenshot("map-incident")
        operator.assert_clean()
        origin = f"{site}/"
        assert requests and all(u.startswith(origin) for u in requests), [
            u for u in requests if not u.startswith(origin)]

        basemap = city.client.get("/control-room/map/basemap.geojson",
                                  headers=city.as_("operator"))
        assert basemap.json() == OUTLINE
        assert basemap.headers["content-type"] == "application/geo+json"
        # the outline replaced by a bad file while the coordinator runs: the page says so,
        # naming the setting, and the cameras are still drawn
        Path(city.settings.basemap_file or "").write_text('{"type": "Point"}')
        page.reload()
        expect(page.locator("#city-map")).to_have_attribute("data-ready", "yes")
        expect(page.locator("#map-problem")).to_contain_text(
            "The basemap could not be shown: basemap_file:")
        expect(page.locator("#map-problem")).to_contain_text(
            "geometry.coordinates: a position is [longitude, latitude]")
        expect(page.locator(".camera-marker")).to_have_count(3)
        assert [e for e in operator.errors if "503" not in e] == [], operator.errors
    broken = city.client.get("/control-room/map/basemap.geojson", headers=city.as_("operator"))
    assert broken.status_code == 503 and broken.json()["code"] == "bad_basemap"


def test_three_hundred_cameras_cluster_and_a_cluster_pulses_with_its_incident(
        browser: Browser, tmp_path: Path) -> None:
    # no outline: raster tiles the city hosts on the coordinator's origin (its reverse proxy
    # serves them; here the browser's route stands in for it)
    city = embedded_world(tmp_path, options={"basemap_tiles": "/tiles/{z}/{x}/{y}.png"})
    try:
        nodes = []
        for n in range(2):  # 150 cameras each (a node enrols at most 256), in a 20 x 15 grid
            cameras = [f"cam-{n}-{i:03d}" for i in range(150)]
            nodes.append(enrol(city, f"n{n}", f"site-{n}", cameras, [
                {"camera": c, "latitude": 52.50 + 0.0004 * ((n * 150 + i) // 20),
                 "longitude": 13.40 + 0.0006 * ((n * 150 + i) % 20),
                 "heading": (37 * i) % 360, "field_of_view": 70}
                for i, c in enumerate(cameras)]))
        with serving(city.svc) as site:
            operator = Watched(browser.new_context().new_page())
            page = operator.page
            log_in(operator, site, "operator", PASSWORD)
            tiles_asked: list[str] = []
            page.route(f"{site}/tiles/**", lambda route: (
                tiles_asked.append(route.request.url),
                route.fulfill(body=TILE, content_type="image/png")))
            page.goto(f"{site}/control-room/map")
            expect(page.locator("#city-map")).to_have_attribute("data-ready", "yes")
            expect(page.locator("#no-basemap")).to_have_count(0)
            expect(page.locator("img.leaflet-tile-loaded").first).to_be_visible()
            assert tiles_asked and all(re.fullmatch(rf"{site}/tiles/\d+/\d+/\d+\.png", u)
                                       for u in tiles_asked), tiles_asked
            clusters = page.locator(".camera-cluster")
            assert clusters.count() >= 2
            singles = page.locator(".camera-marker").count()
            counted = sum(int(t) for t in clusters.locator(".count").all_inner_texts())
            assert counted + singles == 300 and singles < 30, (counted, singles)
            # cones only for cameras shown on their own, not for those inside clusters
            expect(page.locator("#city-map path.fov")).to_have_count(singles)
            expect(page.locator("#map-cameras tbody tr")).to_have_count(300)
            expect(page.locator("#map-list")).not_to_have_attribute("open", "")  # folded
            operator.screenshot("map-300-cameras")
            node_id, key = nodes[1]
            alert(city, node_id, "site-1", key, "cam-1-149")
            expect(page.locator(".camera-cluster.open")).to_have_count(1, timeout=10_000)
            expect(page.locator(".camera-cluster.open")).to_contain_text(
                "1 with open incidents")
            assert text_contrast_failures(page) == []
            operator.screenshot("map-300-cameras-incident")
            operator.assert_clean()
    finally:
        city.close()
