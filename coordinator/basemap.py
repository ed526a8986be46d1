"""The city's basemap: a GeoJSON outline (RFC 7946: streets, districts, the river) that the
control room's offline map draws under the cameras, from a file the city provides
(``basemap_file``). Checked when the settings load, so that a file that is not GeoJSON, or has a
coordinate outside longitude -180..180 / latitude -90..90, stops the coordinator with the
setting's name and the place in the file, rather than showing operators an empty map.

RFC 7946 section 3 fixes the structure checked here: a FeatureCollection of Features, a Feature
with a geometry (or null), and each geometry type's nesting of positions (section 3.1); a
position is [longitude, latitude] with an optional altitude (section 3.1.1)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

MAX_BYTES = 20 * 1024 * 1024  # a city outline, not a planet: keeps a wrong file from the RAM
# how deep each geometry type nests positions (RFC 7946 3.1.2-3.1.7)
DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
         "MultiPolygon": 3}


def _position(value: Any, where: str) -> None:
    if not isinstance(value, list) or not 2 <= len(value) <= 3 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value):
        raise ValueError(f"{where}: a position is [longitude, latitude] (numbers)")
    longitude, latitude = value[0], value[1]
    if not -180 <= longitude <= 180:
        raise ValueError(f"{where}: longitude {longitude} is outside -180..180")
    if not -90 <= latitude <= 90:
        raise ValueError(f"{where}: latitude {latitude} is outside -90..90 (is the file in "
                         "[longitude, latitude] order, in WGS 84 degrees?)")


def _nested(value: Any, depth: int, where: str) -> int:
    """Check ``depth`` levels of arrays down to positions; the number of positions."""
    if depth == 0:
        _position(value, where)
        return 1
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected an array of coordinates")
    return sum(_nested(v, depth - 1, f"{where}[{i}]") for i, v in enumerate(value))


def _geometry(value: Any, where: str) -> int:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: a geometry is an object")
    kind = value.get("type")
    if kind == "GeometryCollection":
        parts = value.get("geometries")
        if not isinstance(parts, list):
            raise ValueError(f"{where}.geometries: expected an array")
        return sum(_geometry(g, f"{where}.geometries[{i}]") for i, g in enumerate(parts))
    if kind not in DEPTH:
        raise ValueError(f"{where}: {kind!r} is not a GeoJSON geometry type")
    return _nested(value.get("coordinates"), DEPTH[kind], f"{where}.coordinates")


def _feature(value: Any, where: str) -> int:
    if not isinstance(value, dict) or value.get("type") != "Feature":
        raise ValueError(f"{where}: expected a Feature")
    geometry = value.get("geometry")
    return 0 if geometry is None else _geometry(geometry, f"{where}.geometry")


def check_outline(data: Any) -> int:
    """Raise ValueError naming the place of the first thing that is not GeoJSON; the number of
    positions in ``data`` (at least one: an outline with nothing in it is refused too)."""
    if not isinstance(data, dict):
        raise ValueError("the file is not a GeoJSON object")
    kind = data.get("type")
    if kind == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list):
            raise ValueError("features: expected an array")
        count = sum(_feature(f, f"features[{i}]") for i, f in enumerate(features))
    elif kind == "Feature":
        count = _feature(data, "feature")
    else:
        count = _geometry(data, "geometry")
    if count == 0:
        raise ValueError("the outline has no coordinates to draw")
    return count


def read_outline(path: Path) -> dict[str, Any]:
    """The GeoJSON in ``path``, checked; ValueError saying what is wrong with it."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ValueError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        data = json.loads(raw, parse_constant=lambda name: name)  # NaN/Infinity: not numbers
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    try:
        check_outline(data)
    except ValueError as exc:
        raise ValueError(f"{path}: not a GeoJSON outline: {exc}") from None
    return data
