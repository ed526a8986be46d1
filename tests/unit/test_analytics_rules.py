"""Analytics rules on scripted trajectories with known answers (pure logic), and the
configuration errors a site operator gets at load time."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nodes.analytics.config import CameraAnalytics
from nodes.analytics.geometry import crosses, inside, self_intersecting
from nodes.analytics.rules import RuleEngine, TrackBox

FPS = 10
SQUARE = [[0.4, 0.4], [0.8, 0.4], [0.8, 0.9], [0.4, 0.9]]


def engine(*rules: dict, lines: tuple = ()) -> RuleEngine:
    return RuleEngine(CameraAnalytics(zones=[{"id": "yard", "polygon": SQUARE}],
                                      lines=list(lines), rules=list(rules)), aspect=1.0)


def box(track: int, x: float, y: float, kind: str = "person") -> TrackBox:
    """A box whose bottom centre (where it stands) is at (x, y)."""
    return TrackBox(track, kind, (x - 0.02, y - 0.1, x + 0.02, y))


def run(rules: RuleEngine, paths: dict[int, list[tuple[float, float]]], kind: str = "person"
        ) -> list:
    """Feed per-track positions frame by frame (a None position: not seen on that frame)."""
    events = []
    for frame in range(max(len(p) for p in paths.values())):
        boxes = [box(t, *p[frame], kind=kind) for t, p in paths.items()
                 if frame < len(p) and p[frame] is not None]
        events += rules.update(frame / FPS, boxes)
    return events


def walk(start: tuple[float, float], end: tuple[float, float], seconds: float
         ) -> list[tuple[float, float]]:
    steps = int(seconds * FPS)
    return [(start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
            for i in range(steps + 1)]


def still(point: tuple[float, float], seconds: float) -> list[tuple[float, float]]:
    return [point] * int(seconds * FPS)


def test_geometry() -> None:
    assert inside((0.5, 0.5), [(0.4, 0.4), (0.8, 0.4), (0.8, 0.9), (0.4, 0.9)])
    assert not inside((0.3, 0.5), [(0.4, 0.4), (0.8, 0.4), (0.8, 0.9), (0.4, 0.9)])
    assert crosses((0.5, 0.2), (0.5, 0.8), (0, 0.5), (1, 0.5)) == 1
    assert crosses((0.5, 0.8), (0.5, 0.2), (0, 0.5), (1, 0.5)) == -1
    assert crosses((1.5, 0.2), (1.5, 0.8), (0, 0.5), (1, 0.5)) == 0
    assert self_intersecting([(0, 0), (1, 1), (1, 0), (0, 0.5)])


def test_restricted_area_raises_one_event_despite_edge_jitter() -> None:
    rules = engine({"type": "restricted_area", "id": "no-entry", "zone": "yard"})
    jitter = [(0.39 if i % 2 else 0.41, 0.6) for i in range(6)]  # flickers across the edge
    path = walk((0.1, 0.6), (0.39, 0.6), 2) + jitter + walk((0.41, 0.6), (0.6, 0.6), 2)
    events = run(rules, {1: path})
    assert [(e.type, e.tracks) for e in events] == [("restricted_area", (1,))]


def test_loitering_needs_the_dwell_time_and_forgives_a_lost_frame() -> None:
    rules = engine({"type": "loitering", "id": "loiter", "zone": "yard", "seconds": 10})
    lingering = [*still((0.6, 0.6), 6), None, *still((0.61, 0.6), 6)]  # 12 s, lost once
    passing = walk((0.1, 0.6), (0.95, 0.6), 3)
    events = run(rules, {1: lingering, 2: passing})
    assert [e.tracks for e in events] == [(1,)]
    assert 10 <= events[0].time <= 10 + 4 / FPS


def test_line_crossings_are_counted_by_direction() -> None:
    rules = engine({"type": "line_crossing", "id": "door", "line": "door"},
                   lines=[{"id": "door", "a": [0.0, 0.5], "b": [1.0, 0.5], "forward": "in",
                           "backward": "out"}])
    paths = {1: walk((0.2, 0.2), (0.2, 0.8), 2), 2: walk((0.5, 0.1), (0.5, 0.9), 2),
             3: walk((0.7, 0.9), (0.7, 0.1), 2), 4: walk((0.1, 0.2), (0.9, 0.3), 2)}
    events = run(rules, paths)
    assert sorted((e.tracks[0], e.direction) for e in events) == [(1, "in"), (2, "in"),
                                                                  (3, "out")]
    assert rules.counts == {("door", "in"): 2, ("door", "out"): 1}


def test_occupancy_fires_when_the_crowd_passes_the_limit() -> None:
    rules = engine({"type": "occupancy", "id": "crowd", "zone": "yard", "max_count": 3})
    paths = {i: [None] * (i * 10) + still((0.5 + 0.05 * i, 0.6), 8 - i) for i in range(5)}
    events = run(rules, paths)
    assert len(events) == 1 and events[0].count == 4


def test_running_and_walking() -> None:
    rules = engine({"type": "running", "id": "run", "speed": 0.35})
    events = run(rules, {1: walk((0.0, 0.5), (1.0, 0.5), 2), 2: walk((0.0, 0.7), (0.2, 0.7), 2)})
    assert [e.tracks for e in events] == [(1,)]


def test_wrong_way() -> None:
    rules = engine({"type": "wrong_way", "id": "one-way", "zone": "yard",
                    "direction": [1.0, 0.0]})
    events = run(rules, {1: walk((0.45, 0.6), (0.75, 0.6), 3),
                         2: walk((0.75, 0.7), (0.45, 0.7), 3)})
    assert [e.tracks for e in events] == [(2,)]


def test_stopped_vehicle_and_left_object() -> None:
    rules = engine({"type": "stopped_vehicle", "id": "stop", "zone": "yard", "seconds": 15})
    stopping = walk((0.1, 0.6), (0.5, 0.6), 2) + still((0.5, 0.6), 20)
    events = run(rules, {1: stopping, 2: walk((0.1, 0.8), (0.9, 0.8), 4)}, kind="vehicle")
    assert [e.tracks for e in events] == [(1,)] and events[0].time >= 2 + 15
    bag = engine({"type": "left_object", "id": "bag", "zone": "yard", "seconds": 30})
    assert len(run(bag, {5: still((0.6, 0.8), 40)}, kind="object")) == 1
    assert run(bag, {6: still((0.6, 0.8), 20)}, kind="object") == []


def test_following() -> None:
    rules = engine({"type": "following", "id": "follow", "seconds": 6})
    leader = walk((0.1, 0.5), (0.9, 0.5), 10)
    follower = walk((0.05, 0.5), (0.85, 0.5), 10)
    stranger = walk((0.9, 0.55), (0.1, 0.55), 10)  # passes them going the other way
    events = run(rules, {1: leader, 2: follower, 3: stranger})
    assert [e.tracks for e in events] == [(1, 2)]


@pytest.mark.parametrize("analytics, where", [
    ({"zones": [{"id": "a", "polygon": [[0, 0], [1, 1], [1, 0], [0, 0.5]]}]}, "polygon"),
    ({"zones": [{"id": "a", "polygon": [[0, 0], [1.5, 0], [1, 1]]}]}, "polygon"),
    ({"zones": [{"id": "a", "polygon": [[0, 0], [1, 0]]}]}, "polygon"),
    ({"rules": [{"type": "loitering", "id": "l", "zone": "nowhere", "seconds": 5}]},
     "rules.0.zone: no zone 'nowhere'"),
    ({"rules": [{"type": "line_crossing", "id": "c", "line": "gone"}]}, "rules.0.line"),
    ({"rules": [{"type": "teleport", "id": "t"}]}, "rules.0"),
    ({"zones": [{"id": "a", "polygon": SQUARE}, {"id": "a", "polygon": SQUARE}]},
     "zone ids must be unique"),
])
def test_configuration_errors_name_the_field(analytics: dict, where: str) -> None:
    with pytest.raises(ValidationError) as error:
        CameraAnalytics.model_validate(analytics)
    text = str(error.value)
    assert where in text, text


def test_the_node_config_names_a_rule_with_a_missing_zone(tmp_path) -> None:
    from kernel.errors import ConfigError
    from nodes.config import load_settings

    config = tmp_path / "node.toml"
    config.write_text('[[cameras]]\nid = "gate"\nsource = "synthetic:"\n'
                      '[[cameras.analytics.zones]]\nid = "yard"\n'
                      'polygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]\n'
                      '[[cameras.analytics.rules]]\ntype = "loitering"\nid = "l"\n'
                      'zone = "platform"\nseconds = 30\n')
    with pytest.raises(ConfigError, match=r"cameras\.0\.analytics.*rules\.0\.zone: no zone "
                                          r"'platform'"):
        load_settings(config)
    config.write_text(config.read_text().replace('"platform"', '"yard"'))
    (camera,) = load_settings(config).cameras
    assert camera.analytics.rules[0].zone == "yard"
