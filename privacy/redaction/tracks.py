"""Temporal persistence: keep a region covered between, before and after its detections.

Detection runs on keyframes only. Each detected face or plate is linked across keyframes into a
track; a frame's regions are then taken from the tracks around it:

* between two detections of a track, the box is interpolated linearly;
* for ``persist`` frames after its last detection, the box is the union of the last box and the
  box moved on at the track's last velocity, growing by 1% of its size per frame unseen, so a
  missed detection, a stop or a turn stays covered;
* for ``preroll`` frames before its first detection the same holds backwards: a face first found at
  a keyframe was very likely already there in the frames since the previous one.

Pure logic: no frames, no I/O, so it is tested exhaustively on its own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from privacy.redaction.boxes import Box, Detection, Kind

GROWTH_PER_FRAME = 0.01  # of the box's longer side, on each side
MAX_GROWTH = 0.5


def _uncertain(box: Box, gap: int) -> Box:
    """Grow a box the longer it has gone unseen: the object may have turned or changed pace."""
    return box.enlarged(0.0, min(MAX_GROWTH, GROWTH_PER_FRAME * gap) * max(box.width, box.height))


@dataclass
class Track:
    kind: Kind
    track_id: int
    points: list[tuple[int, Box, float]] = field(default_factory=list)  # (frame, box, score)

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

    def box_at(self, frame: int, persist: int, preroll: int) -> tuple[Box, float] | None:
        """The region to cover at ``frame`` and the score it rests on, or None."""
        if frame < self.first:
            gap = self.first - frame
            if gap > preroll:
                return None
            _, box, score = self.points[0]
            vx, vy = self._velocity(0, 1) if len(self.points) > 1 else (0.0, 0.0)
            return _uncertain(box.union(box.shifted(-vx * gap, -vy * gap)), gap), score
        if frame > self.last:
            gap = frame - self.last
            if gap > persist:
                return None
            _, box, score = self.points[-1]
            vx, vy = self._velocity(-2, -1) if len(self.points) > 1 else (0.0, 0.0)
            return _uncertain(box.union(box.shifted(vx * gap, vy * gap)), gap), score
        for (fa, ba, sa), (fb, bb, sb) in itertools.pairwise(self.points):
            if fa <= frame <= fb:
                t = 0.0 if fb == fa else (frame - fa) / (fb - fa)
                return ba.interpolate(bb, t), max(sa, sb)
        _, box, score = self.points[-1]  # a single point equal to frame
        return box, score


class TrackSet:
    """Tracks of every kind, fed keyframe by keyframe, queried frame by frame."""

    def __init__(self, max_gap: int, persist: int, preroll: int):
        self.max_gap = max_gap  # frames a track may go undetected and still be continued
        self.persist = persist
        self.preroll = preroll
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
                # a walker covers ~0.3 face heights per frame, a runner twice that: the gate
                # widens with the frames since the track was last seen
                reach = 1.5 + 0.5 * (frame - track.last)
                if distance <= reach and 0.25 <= ratio <= 4.0:
                    pairs.append((distance, ti, di))
        used_tracks: set[int] = set()
        used_dets: set[int] = set()
        for _, ti, di in sorted(pairs):
            if ti in used_tracks or di in used_dets:
                continue
            used_tracks.add(ti)
            used_dets.add(di)
            live[ti].points.append((frame, detections[di].box, detections[di].score))
        for di, det in enumerate(detections):
            if di not in used_dets:
                self._tracks.append(Track(det.kind, next(self._ids), [(frame, det.box, det.score)]))

    def regions_at(self, frame: int) -> list[tuple[Track, Box, float]]:
        found = []
        for track in self._tracks:
            hit = track.box_at(frame, self.persist, self.preroll)
            if hit is not None:
                found.append((track, *hit))
        return found

    def forget_before(self, frame: int) -> None:
        """Drop tracks that can no longer cover ``frame`` or any later frame."""
        reach = max(self.persist, self.max_gap)
        self._tracks = [t for t in self._tracks if t.last + reach >= frame]
