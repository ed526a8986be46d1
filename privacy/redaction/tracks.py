"""Temporal persistence: keep a region covered between, before and after its detections.

Detection runs on keyframes only. Each detected face or plate is linked across keyframes into a
track; a frame's regions are then taken from the tracks around it:

* between two detections of a track, the box is interpolated linearly;
* for ``persist`` frames after its last detection, the box is the union of the last box and the
  box moved on at the track's last velocity (by two box sizes at most), growing by 1% of its
  size per frame unseen, so a missed detection, a stop or a turn stays covered;
* for ``preroll`` frames before its first detection the same holds backwards: a face first found at
  a keyframe was very likely already there in the frames since the previous one;
* a track seen only once is held at the box it was detected with, unmoved and not grown, for
  the same windows: it has no course to sweep along and no pace to be uncertain about, and a
  single sighting is the likeliest false one (a group of coats read as a plate): grown, it
  would hide more of the frame the longer it is not confirmed;
* a track last seen at the frame's edge keeps its last box, grown as over its persistence, for
  ``edge_persist`` frames after its last detection: a face leaving the frame, or standing at its
  edge, is cut by it, and a third of a face is found by no detector while it still shows. Seen
  at the edge, a box is also joined with the one detected before it: less of the face shows,
  so less of it is found.

A detection is linked to the track whose expected box is nearest, within a gate in box sizes
that widens with the frames unseen: wide for a track seen once (it may start at a runner's pace),
narrow around a moving track's course (``REACH_MOVING``), so that a track is never handed from one
person to another and given a velocity that sweeps its box over the frame between them.

Pure logic: no frames, no I/O, so it is tested exhaustively on its own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from privacy.redaction.boxes import Box, Detection, Kind

GROWTH_PER_FRAME = 0.01  # of the box's longer side, on each side
MAX_GROWTH = 0.5
EDGE_BAND = 0.1  # of a box's longer side: a box this close to the border is cut by it
# The farthest a box is swept along its track's velocity, in its own sizes: a runner covers ~0.6
# face heights a frame, and a faster "velocity" comes from linking two people's detections,
# whose sweep would hide the frame between them. A face really moving that fast is found again
# at the next keyframe.
MAX_SWEEP = 2.0
# Linking gates, in box sizes from where the track is expected. A track seen once may start
# moving at any pace: a walker covers ~0.3 face heights per frame, a runner twice that, plus
# 1.5 sizes for the detector's error on a small box. A track already moving is expected on its
# course: leaving it means stopping, turning or speeding up, which changes a walker's motion by
# at most its own pace (0.3 sizes per frame), plus a size of the detector's error. A detection
# further off is another object, and taken as this one it would give the track a velocity no
# object has, sweep its box across the frame between the two (and interpolate across it), and
# steer the next link further astray. It starts a track of its own, with its own pre-roll; the
# old track persists as any unseen track does.
REACH_NEW = (1.5, 0.5)  # (sizes, sizes per frame since last seen)
REACH_MOVING = (1.0, 0.3)


def _swept(box: Box, vx: float, vy: float, frames: int) -> Box:
    """The box joined with itself moved on ``frames`` frames at ``(vx, vy)``, the move at most
    ``MAX_SWEEP`` box sizes along each axis."""
    dx = max(-MAX_SWEEP * box.width, min(MAX_SWEEP * box.width, vx * frames))
    dy = max(-MAX_SWEEP * box.height, min(MAX_SWEEP * box.height, vy * frames))
    return box.union(box.shifted(dx, dy))


def _uncertain(box: Box, gap: int) -> Box:
    """Grow a box the longer it has gone unseen: the object may have turned or changed pace."""
    return box.enlarged(0.0, min(MAX_GROWTH, GROWTH_PER_FRAME * gap) * max(box.width, box.height))


def _at_edge(box: Box, width: int, height: int) -> bool:
    """Whether the box touches the frame's border (within a tenth of its size)."""
    band = EDGE_BAND * max(box.width, box.height)
    return box.x1 <= band or box.y1 <= band or box.x2 >= width - band or box.y2 >= height - band


@dataclass
class Track:
    kind: Kind
    track_id: int
    points: list[tuple[int, Box, float]] = field(default_factory=list)  # (frame, box, score)
    detected: Box | None = None  # the last box as the detector gave it (points hold the shown)

    @property
    def first(self) -> int:
        return self.points[0][0]

    @property
    def last(self) -> int:
        return self.points[-1][0]

    def _velocity(self, a: int, b: int) -> tuple[float, float]:
        (fa, ba, _), (fb, bb, _) = self.points[a], self.points[b]
        if fb == fa:
            return 0.0, 0.0
        (ax, ay), (bx, by) = ba.centre, bb.centre
        return (bx - ax) / (fb - fa), (by - ay) / (fb - fa)

    def predicted(self, frame: int) -> Box:
        """Where the track would be at ``frame`` at its last velocity (for association)."""
        if len(self.points) < 2:
            return self.points[-1][1]
        vx, vy = self._velocity(-2, -1)
        return self.points[-1][1].shifted(vx * (frame - self.last), vy * (frame - self.last))

    @property
    def confirmed(self) -> bool:
        """Seen on two keyframes or more: only then does it have a course and a pace."""
        return len(self.points) > 1

    def _held(self, box: Box, gap: int) -> Box:
        """The box held ``gap`` frames from its detection: grown only once confirmed."""
        return _uncertain(box, gap) if self.confirmed else box

    def at_edge(self, width: int, height: int) -> bool:
        """Whether the last detection touches the frame's border."""
        return _at_edge(self.points[-1][1], width, height)

    def left_at_edge(self, frame: int, size: tuple[int, int], persist: int,
                     edge_persist: int) -> list[Box]:
        """Boxes at the frame's edge the track jumped away from (its next detection does not
        overlap: the tracker took another face for this one), held as if the track had ended
        there."""
        held = []
        for (fa, ba, _), (_, bb, _) in itertools.pairwise(self.points):
            if (fa < frame <= fa + edge_persist and _at_edge(ba, *size)
                    and ba.intersection(bb).area <= 0):
                held.append(_uncertain(ba, min(persist, frame - fa)))  # confirmed: 2 points
        return held

    def box_at(self, frame: int, persist: int, preroll: int,
               edge_persist: int = 0) -> tuple[Box, float] | None:
        """The region to cover at ``frame`` and the score it rests on, or None. Past
        ``persist``, up to ``edge_persist`` frames after the last detection, the last box as grown
        by the persistence (the caller passes ``edge_persist`` only for tracks at the edge)."""
        if frame > self.last + persist and frame - self.last <= edge_persist:
            _, box, score = self.points[-1]  # where it left or stands: not where it was going
            return self._held(box, persist), score
        if frame < self.first:
            gap = self.first - frame
            if gap > preroll:
                return None
            _, box, score = self.points[0]
            if not self.confirmed:
                return box, score
            vx, vy = self._velocity(0, 1)
            return _uncertain(_swept(box, -vx, -vy, gap), gap), score
        if frame > self.last:
            gap = frame - self.last
            if gap > persist:
                return None
            _, box, score = self.points[-1]
            if not self.confirmed:
                return box, score
            vx, vy = self._velocity(-2, -1)
            return _uncertain(_swept(box, vx, vy, gap), gap), score
        for (fa, ba, sa), (fb, bb, sb) in itertools.pairwise(self.points):
            if fa <= frame <= fb:
                t = 0.0 if fb == fa else (frame - fa) / (fb - fa)
                return ba.interpolate(bb, t), max(sa, sb)
        _, box, score = self.points[-1]  # a single point equal to frame
        return box, score


class TrackSet:
    """Tracks of every kind, fed keyframe by keyframe, queried frame by frame."""

    def __init__(self, max_gap: int, persist: int, preroll: int, edge_persist: int = 0):
        self.max_gap = max_gap  # frames a track may go undetected and still be continued
        self.persist = persist
        self.preroll = preroll
        self.edge_persist = edge_persist
        self.size: tuple[int, int] | None = None  # the frame's width and height, once known
        self._tracks: list[Track] = []
        self._ids = itertools.count(1)

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    def update(self, frame: int, detections: list[Detection]) -> None:
        """Link the detections of keyframe ``frame`` to the live tracks (greedy, nearest first)."""
        live = [t for t in self._tracks if frame - t.last <= self.max_gap and t.last < frame]
        pairs = []
        for ti, track in enumerate(live):
            guess = track.predicted(frame)
            for di, det in enumerate(detections):
                if det.kind != track.kind:
                    continue
                (gx, gy), (dx, dy) = guess.centre, det.box.centre
                scale = max(guess.width, guess.height, det.box.width, det.box.height, 1.0)
                distance = ((gx - dx) ** 2 + (gy - dy) ** 2) ** 0.5 / scale
                ratio = (det.box.area + 1.0) / (guess.area + 1.0)
                # the gate widens with the frames since the track was last seen (REACH_*)
                base, per_frame = REACH_MOVING if len(track.points) > 1 else REACH_NEW
                reach = base + per_frame * (frame - track.last)
                if distance <= reach and 0.25 <= ratio <= 4.0:
                    pairs.append((distance, ti, di))
        used_tracks: set[int] = set()
        used_dets: set[int] = set()
        for _, ti, di in sorted(pairs):
            if ti in used_tracks or di in used_dets:
                continue
            used_tracks.add(ti)
            used_dets.add(di)
            track, box = live[ti], detections[di].box
            before = track.detected
            if (self.size is not None and before is not None and _at_edge(box, *self.size)
                    and box.intersection(before).area > 0):
                # cut by the border, a face is found smaller as less of it shows, not because
                # it is smaller: it is shown with the box detected before too
                box = box.union(before)
            track.detected = detections[di].box
            track.points.append((frame, box, detections[di].score))
        for di, det in enumerate(detections):
            if di not in used_dets:
                self._tracks.append(Track(det.kind, next(self._ids), [(frame, det.box, det.score)],
                                          det.box))

    def regions_at(self, frame: int) -> list[tuple[Track, Box, float]]:
        found = []
        for track in self._tracks:
            edge = (self.edge_persist if self.size is not None and track.at_edge(*self.size)
                    else 0)
            hit = track.box_at(frame, self.persist, self.preroll, edge)
            if hit is not None:
                found.append((track, *hit))
            if self.size is not None and self.edge_persist:
                found += [(track, box, track.points[-1][2]) for box in
                          track.left_at_edge(frame, self.size, self.persist, self.edge_persist)]
        return found

    def forget_before(self, frame: int) -> None:
        """Drop tracks that can no longer cover ``frame`` or any later frame."""
        reach = max(self.persist, self.max_gap, self.edge_persist)
        self._tracks = [t for t in self._tracks if t.last + reach >= frame]
