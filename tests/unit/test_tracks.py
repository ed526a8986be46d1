"""Temporal persistence is pure logic: checked exhaustively, with generated trajectories."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.redaction.boxes import Box, Detection, iou_matrix, non_max_suppression
from privacy.redaction.tracks import TrackSet


def face(x: float, y: float, size: float = 40.0, score: float = 0.9) -> Detection:
    return Detection("face", Box(x, y, x + size, y + size), score)


def covers(outer: Box, inner: Box) -> bool:
    return (outer.x1 <= inner.x1 + 1e-6 and outer.y1 <= inner.y1 + 1e-6
            and outer.x2 >= inner.x2 - 1e-6 and outer.y2 >= inner.y2 - 1e-6)


@settings(max_examples=200, deadline=None)
@given(
    x0=st.floats(0, 1000), y0=st.floats(0, 600),
    vx=st.floats(-6, 6), vy=st.floats(-3, 3),
    every=st.integers(1, 8), keyframes=st.integers(2, 8),
    size=st.floats(24, 200),
)
def test_linear_motion_is_covered_on_every_frame(x0, y0, vx, vy, every, keyframes, size) -> None:
    """An object moving at constant speed, detected on each keyframe, is covered exactly on
    every frame between, and the persistence windows extend past both ends."""
    tracks = TrackSet(max_gap=every * 2, persist=every, preroll=every)
    for k in range(keyframes):
        f = k * every
        tracks.update(f, [face(x0 + vx * f, y0 + vy * f, size)])
    assert len(tracks.tracks) == 1
    last = (keyframes - 1) * every
    for f in range(-every, last + every + 1):
        truth = Box(x0 + vx * f, y0 + vy * f, x0 + vx * f + size, y0 + vy * f + size)
        regions = tracks.regions_at(f)
        assert len(regions) == 1, f
        assert covers(regions[0][1], truth), (f, regions[0][1], truth)
    assert tracks.regions_at(-every - 1) == []
    assert tracks.regions_at(last + every + 1) == []


def test_missed_keyframe_is_bridged_by_interpolation() -> None:
    tracks = TrackSet(max_gap=8, persist=4, preroll=4)
    tracks.update(0, [face(100, 100)])
    tracks.update(4, [])  # the detector missed it
    tracks.update(8, [face(116, 100)])
    assert len(tracks.tracks) == 1
    box = tracks.regions_at(4)[0][1]
    assert box == Box(108, 100, 148, 140)


def test_two_objects_keep_their_tracks_when_passing() -> None:
    tracks = TrackSet(max_gap=8, persist=4, preroll=4)
    for f in range(0, 40, 4):
        tracks.update(f, [face(100 + 3 * f, 100), face(500 - 3 * f, 300)])
    assert len(tracks.tracks) == 2
    for track in tracks.tracks:
        xs = [p[1].x1 for p in track.points]
        assert xs == sorted(xs) or xs == sorted(xs, reverse=True)


def test_kinds_are_never_linked() -> None:
    tracks = TrackSet(max_gap=8, persist=4, preroll=4)
    tracks.update(0, [face(100, 100)])
    tracks.update(4, [Detection("plate", Box(100, 100, 140, 140), 0.9)])
    assert sorted(t.kind for t in tracks.tracks) == ["face", "plate"]


def test_forget_drops_only_expired_tracks() -> None:
    tracks = TrackSet(max_gap=8, persist=10, preroll=4)
    tracks.update(0, [face(0, 0)])
    tracks.update(20, [face(500, 500)])
    tracks.forget_before(11)
    assert len(tracks.tracks) == 1 and tracks.tracks[0].first == 20


def test_nms_keeps_best_per_kind() -> None:
    dets = [face(0, 0, score=0.5), face(2, 2, score=0.9),
            Detection("plate", Box(0, 0, 40, 40), 0.4)]
    kept = non_max_suppression(dets, 0.3)
    assert sorted((d.kind, d.score) for d in kept) == [("face", 0.9), ("plate", 0.4)]
    assert iou_matrix([], [Box(0, 0, 1, 1)]).shape == (0, 1)


def test_unseen_regions_grow_until_they_expire() -> None:
    tracks = TrackSet(max_gap=8, persist=60, preroll=10)
    tracks.update(6, [face(100, 100, size=40)])
    tracks.update(10, [face(100, 100, size=40)])  # confirmed (standing still)
    sizes = [tracks.regions_at(10 + gap)[0][1].width for gap in (0, 5, 20, 50, 60)]
    assert sizes == [40, 44, 56, 80, 80]  # +1% of the size a side per frame, capped at +50%
    assert tracks.regions_at(1)[0][1].width == 44  # pre-roll grows the same way
    assert tracks.regions_at(71) == [] and tracks.regions_at(-5) == []


def test_a_track_seen_once_is_held_at_its_own_box() -> None:
    """vtest.avi, frame 144: a group of coats read once as a plate (a 101x76 px box, no vehicle
    near) was held for its pre-roll and persistence, growing all the while, to 185x145 px (6.1%
    of the frame) at frame 156. A track seen once has no course and no pace: it is held where
    and as it was detected, for the same windows, and not beyond."""
    plate = Box(430, 187, 531, 263)
    tracks = TrackSet(max_gap=12, persist=12, preroll=12, edge_persist=30)
    tracks.size = (768, 576)
    tracks.update(144, [Detection("plate", plate, 0.7)])
    for f in range(132, 157):
        assert [box for _, box, _ in tracks.regions_at(f)] == [plate], f
    assert tracks.regions_at(131) == [] and tracks.regions_at(157) == []


def test_a_track_seen_once_at_the_edge_is_held_there_at_its_own_box() -> None:
    """A face first and last seen at the frame's edge is held there (edge_persist_seconds),
    at the box it was detected with."""
    tracks = TrackSet(max_gap=12, persist=12, preroll=12, edge_persist=30)
    tracks.size = (768, 576)
    half = Box(0, 200, 20, 240)
    tracks.update(40, [Detection("face", half, 0.3)])
    assert [box for _, box, _ in tracks.regions_at(70)] == [half]
    assert tracks.regions_at(71) == []


def test_a_moving_track_is_not_linked_to_a_detection_off_its_course() -> None:
    """vtest.avi, frames 612-624: a head region moving at ~1 px a frame was linked to another
    person's head 133 px away, then a third 230 px further: its "velocity" swept its box over
    6% of the frame. A track already moving is expected on its course, within its pace; a
    detection off it starts a track of its own, and both are covered."""
    tracks = TrackSet(max_gap=12, persist=12, preroll=12)
    for f in range(0, 20, 4):
        tracks.update(f, [face(700 + f, 200, size=40)])
    tracks.update(20, [face(590, 230, size=40)])  # 3.3 sizes off its course in 4 frames
    assert len(tracks.tracks) == 2
    walker, other = tracks.tracks
    assert [p[0] for p in walker.points] == [0, 4, 8, 12, 16]
    assert other.points[0][0] == 20
    covered = [box for _, box, _ in tracks.regions_at(28)]
    assert any(covers(box, Box(728, 200, 768, 240)) for box in covered)  # still on its course
    assert all(box.width < 2 * 40 for box in covered)  # neither swept across (3 sizes wide)


def test_a_track_seen_once_links_a_runner() -> None:
    """A track seen once has no course yet: a runner's 0.6 sizes a frame are linked."""
    tracks = TrackSet(max_gap=12, persist=12, preroll=12)
    tracks.update(0, [face(100, 100, size=40)])
    tracks.update(4, [face(100 + 4 * 24, 100, size=40)])
    assert len(tracks.tracks) == 1
