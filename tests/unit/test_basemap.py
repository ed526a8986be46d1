"""The city's basemap outline is checked when the settings load: GeoJSON (RFC 7946) with every
position [longitude, latitude] in range, or the coordinator stops naming ``basemap_file``, the
file and the place in it; the tile template stays on the coordinator's origin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.basemap import check_outline, read_outline
from coordinator.config import load_coordinator_settings
from kernel.errors import ConfigError

STREET = {"type": "Feature", "properties": {"name": "High Street"},
          "geometry": {"type": "LineString", "coordinates": [[13.40, 52.52], [13.41, 52.521]]}}
DISTRICT = {"type": "Feature", "properties": {}, "geometry": {
    "type": "Polygon",
    "coordinates": [[[13.39, 52.51], [13.42, 52.51], [13.42, 52.53], [13.39, 52.51]]]}}


def outline(*features: object) -> dict[str, object]:
    return {"type": "FeatureCollection", "features": list(features)}


def test_a_city_outline_is_counted_position_by_position() -> None:
    assert check_outline(outline(STREET, DISTRICT)) == 6
    assert check_outline(DISTRICT["geometry"]) == 4
    assert check_outline({"type": "GeometryCollection", "geometries": [
        {"type": "Point", "coordinates": [13.4, 52.5, 34.0]}]}) == 1


@pytest.mark.parametrize(("data", "said"), [
    ([1, 2], "not a GeoJSON object"),
    ({"type": "Topology"}, "'Topology' is not a GeoJSON geometry type"),
    (outline({"type": "Feature", "geometry": {"type": "Point", "coordinates": [52.5, 213.4]}}),
     "features[0].geometry.coordinates: latitude 213.4 is outside -90..90"),
    (outline({"type": "Feature", "geometry": {"type": "Point", "coordinates": [-181, 0]}}),
     "longitude -181 is outside -180..180"),
    (outline({**DISTRICT, "geometry": {"type": "Polygon", "coordinates": [[13.39, 52.51]]}}),
     "features[0].geometry.coordinates[0][0]: a position is [longitude, latitude]"),
    (outline({"type": "Feature", "geometry": {"type": "Point", "coordinates": ["13", "52"]}}),
     "a position is [longitude, latitude] (numbers)"),
    (outline({"type": "Feature", "geometry": {"type": "Point", "coordinates": [True, 5]}}),
     "a position is [longitude, latitude] (numbers)"),
    (outline(STREET, {"type": "Point", "coordinates": [0, 0]}), "features[1]: expected a Feature"),
    (outline(), "no coordinates to draw"),
    ({"type": "FeatureCollection", "features": {}}, "features: expected an array"),
])
def test_what_is_not_a_geojson_outline_is_named_with_its_place(data: object, said: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_outline(data)
    assert said in str(caught.value)


def test_a_file_that_is_not_json_or_holds_nan_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "city.geojson"
    broken.write_text("<kml></kml>")
    with pytest.raises(ValueError, match="not JSON"):
        read_outline(broken)
    broken.write_text('{"type": "Point", "coordinates": [NaN, 1]}')
    with pytest.raises(ValueError, match="a position is"):
        read_outline(broken)
    with pytest.raises(ValueError, match="No such file"):
        read_outline(tmp_path / "missing.geojson")


def test_the_settings_name_basemap_file_when_it_is_wrong(tmp_path: Path) -> None:
    good = tmp_path / "city.geojson"
    good.write_text(json.dumps(outline(STREET, DISTRICT)))
    settings = load_coordinator_settings(data_dir=tmp_path, basemap_file=good)
    assert settings.basemap_file == good
    swapped = tmp_path / "swapped.geojson"  # Sydney, latitude first: a common mistake
    swapped.write_text(json.dumps(outline({**STREET, "geometry": {
        "type": "LineString", "coordinates": [[151.2, -33.8], [-33.9, 151.21]]}})))
    with pytest.raises(ConfigError) as caught:
        load_coordinator_settings(data_dir=tmp_path, basemap_file=swapped)
    message = str(caught.value)
    assert "basemap_file" in message and str(swapped) in message
    assert "features[0].geometry.coordinates[1]: latitude 151.21 is outside" in message


@pytest.mark.parametrize("template", ["https://tiles.example.org/{z}/{x}/{y}.png",
                                      "//tiles.example.org/{z}/{x}/{y}.png",
                                      "/tiles/{z}/{x}.png", "/tiles/{z}/{x}/{y}.png?k=1"])
def test_tiles_come_from_the_coordinators_own_origin_only(tmp_path: Path, template: str) -> None:
    with pytest.raises(ConfigError, match="basemap_tiles"):
        load_coordinator_settings(data_dir=tmp_path, basemap_tiles=template)
    assert load_coordinator_settings(
        data_dir=tmp_path, basemap_tiles="/tiles/{z}/{x}/{y}.png").basemap_tiles


def test_the_cli_stops_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    bad = tmp_path / "city.geojson"
    bad.write_text("<kml><Document/></kml>")  # KML handed in where GeoJSON belongs
    config = tmp_path / "coordinator.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nbasemap_file = "{bad}"\n')
    done = subprocess.run([sys.executable, "-c", "from nodes.cli import main; main()",
                           "coordinator", "init", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: {config}: invalid configuration: basemap_file: Value error, {bad}: not JSON "
        "(Expecting value: line 1 column 1 (char 0))"]
    assert not (tmp_path / "data").exists()  # nothing was set up
