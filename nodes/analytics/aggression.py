"""The ``aggression`` score: aggressive arm movements of one person towards another, from body
keypoints (MediaPipe BlazePose's 33 landmarks: Bazarevsky et al., "BlazePose: On-device
Real-time Body Pose tracking", CVPR Workshops 2020), one pose per person and sample.

The cues follow the person-on-person violence literature, which finds fights in the limbs'
motion rather than the body's: Datta, Shah and Lobo, "Person-on-person violence detection in
video data" (ICPR 2002) track the limbs and flag high limb acceleration and arms raised at
another person; Serrano Gracia et al., "Fast fight detection" (PLoS ONE 10(4), 2015) use the
extreme acceleration of fights as the cue that separates them from other fast motion. Here, per
pose sample:

- **limb speed** ``v``: the fastest wrist or elbow, relative to the person's own hips (walking,
  jogging and running move the whole body; a blow moves the arm against it), in torso lengths
  (shoulder centre to hip centre) per second, so it reads the same near and far from the camera.
  A torso is about 0.29 of stature, ~0.5 m (Drillis and Contini's segment proportions, as
  tabled in Winter, "Biomechanics and Motor Control of Human Movement", 4th ed., 2009). Fist
  speeds of punches are 9.1 +- 2.1 m/s for Olympic boxers (Walilko, Viano and Bir, "Biomechanics
  of the head for Olympic boxer punches to the face", Br J Sports Med 39, 2005), ~18 torso
  lengths per second, and still several m/s for untrained people; the arm swing of walking and
  jogging stays near or below 1.5 m/s (3 per second). ``v`` scores ``(v - slow) / (fast -
  slow)`` clipped to 0..1: by default 2.5 (~1.25 m/s) to 7 (~3.5 m/s), speeds as measured
  between poses a tenth of a second or so apart (a blow's peak is shorter than that).
- **towards another person**: a companion (someone at the same depth close by, their box
  within half a body height, of similar height, feet level, for ``together_seconds``) that this
  person's wrist or elbow touches (inside their box: two people in contact, a push or a grab),
  or towards whom a wrist is raised above the shoulders (Datta et al.'s raised-arm cue; a bat or
  bottle swung overhead).

A sample scores ``0.25 * fast`` for the person alone (dancing, shadow boxing, waving: at most
0.25) and ``fast * (0.25 + 0.75 * towards)`` for the person with each companion (fast limbs at
someone reach 1); a pair's score takes the samples of both people, so an exchange (a shove, one
back) adds up in one incident. A score is the mean of its samples over the last
``window_seconds``, each weighted by the time since the previous one (so an uneven pose rate
weighs time, not samples): fights are repeated fast movements over seconds, and the mean keeps
one fast movement, or one bad estimate, from counting on its own. An event fires once per person
or pair when the score stays at or above the threshold for ``min_seconds``.

Real keypoints are noisy: BlazePose lite on the 60 to 180 pixel people of OpenCV's vtest.avi
puts a wrist a tenth of a torso length from its smooth path in half the frames and half a torso
length in one in twenty (measured with ``bench/aggression.py``), speeds between poses of ~7 torso
lengths per second in one pose in twenty for people just walking: a single fast sample means
little, hence the window. Pose models also swap left and right limbs: left and right of a kind
are matched to whichever assignment moves them less; limbs seen with visibility under
``min_visibility`` are ignored, and a sample implying a limb faster than any human's
(``glitch`` torso lengths per second, ~20 m/s) is dropped as an estimation error. Nothing of a
pose is kept beyond where each live track's elbows and wrists were last seen, in memory.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

Box = tuple[float, float, float, float]

# MediaPipe Pose landmark indices (BlazePose's 33-point topology)
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_HIP, RIGHT_HIP = 23, 24
LANDMARKS = 33
_LIMBS = (LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST)
_WRISTS = (2, 3)  # their rows in _LIMBS
ALONE = 0.25  # the weight of fast limbs aimed at no one: below any threshold over 0.25


@dataclass(frozen=True)
class Person:
    """One person on one frame: the track's box in frame pixels and, when a pose was estimated
    for it on this frame, its keypoints: ``(33, k)`` with x, y in frame pixels in the first two
    columns and the landmark's visibility (0..1) in the last."""

    track_id: int
    box: Box
    keypoints: np.ndarray | None = None


@dataclass
class _Track:
    """What is kept of a live track between its samples: where its limbs were, relative to its
    hips (no other landmark, no picture), and its recent torso lengths."""

    time: float  # of its last sample
    limbs: np.ndarray  # (4, 2) elbows and wrists relative to the hips where last seen, pixels
    seen: np.ndarray  # (4,) when each was last seen (-inf: never)
    torsos: deque[float] = field(default_factory=lambda: deque(maxlen=5))


@dataclass
class _Score:
    """The smoothed score of one person alone, or of two people together: the mean of its
    samples over the last window, each weighted by the time it stands for."""

    time: float  # of its last sample
    samples: deque[tuple[float, float, float]] = field(default_factory=deque)  # time, value, dt
    score: float = 0.0
    above_since: float | None = None
    fired: bool = False


def _height(box: Box) -> float:
    return max(1e-9, box[3] - box[1])


def near(a: Box, b: Box) -> bool:
    """Whether ``b`` stands close to ``a`` at the same depth: within half a body height
    sideways, of similar height (2:3 either way), feet level within a quarter height (boxes
    that merely overlap on screen, one far behind the other, are not close)."""
    ha, hb = _height(a), _height(b)
    if not 2 / 3 <= hb / ha <= 3 / 2 or abs(a[3] - b[3]) > 0.25 * ha:
        return False
    gap = max(b[0] - a[2], a[0] - b[2], 0.0)
    return gap <= 0.5 * ha


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class AggressionScorer:
    """The scores of the person tracks of one camera, for one rule's settings.

    A person has a score of their own (fast limbs, no one to aim at: at most 0.5) and, with
    each companion (someone close for ``together_seconds``: a passer-by brushing past is not
    one), a score of the two together, fed by the samples of both: the blows of an exchange
    (a shove, then one back) add up in one incident. An event fires once per person alone or
    per pair, with the tracks it concerns."""

    def __init__(self, threshold: float = 0.4, min_seconds: float = 0.25,
                 window_seconds: float = 1.5, slow: float = 2.5, fast: float = 7.0,
                 together_seconds: float = 1.0, min_visibility: float = 0.5,
                 max_gap: float = 0.6, glitch: float = 40.0):
        self.threshold, self.min_seconds, self.window = threshold, min_seconds, window_seconds
        self.slow, self.fast, self.together = slow, fast, together_seconds
        self.min_visibility, self.max_gap, self.glitch = min_visibility, max_gap, glitch
        self._tracks: dict[int, _Track] = {}
        self._pairs: dict[tuple[int, int], tuple[float, float]] = {}  # close: (since, last)
        self._scores: dict[tuple[int, ...], _Score] = {}
        self.peak = 0.0  # the highest score so far (a number: what the threshold is set against)

    def score(self, *tracks: int) -> float:
        """The smoothed score now of one track alone or of two together (0 if none yet)."""
        score = self._scores.get(tuple(sorted(tracks)))
        return score.score if score is not None else 0.0

    def update(self, now: float, people: list[Person]) -> list[tuple[tuple[int, ...], float]]:
        """Score the people posed on this frame against everyone on it; return ``(tracks,
        score)`` for each person or pair whose event fires now. Tracks not on the frame, and
        pairs no longer close, are forgotten."""
        present = {p.track_id for p in people}
        self._tracks = {k: v for k, v in self._tracks.items() if k in present}
        self._keep_company(now, people)
        samples: dict[tuple[int, ...], tuple[float, float]] = {}  # (value, seconds since)
        for person in people:
            if person.keypoints is None:
                continue
            sample = self._sample(now, person, people)
            if sample is None:
                continue
            fast, towards, dt = sample
            own = (person.track_id,)
            samples[own] = max(samples.get(own, (0.0, dt)), (ALONE * fast, dt))
            for companion, aimed in towards.items():
                key: tuple[int, ...] = _pair(person.track_id, companion)
                samples[key] = max(samples.get(key, (0.0, dt)),
                                   (fast * (ALONE + (1 - ALONE) * aimed), dt))
        self._scores = {k: v for k, v in self._scores.items()
                        if all(t in present for t in k) and (len(k) == 1 or k in self._pairs)}
        fired = []
        for key, (value, dt) in samples.items():
            score = self._scores.get(key)
            if score is None:  # its first sample weighs the time it was measured over
                score = self._scores[key] = _Score(now - dt)
            if self._smooth(score, now, value):
                fired.append((key, score.score))
        return fired

    def _keep_company(self, now: float, people: list[Person]) -> None:
        """Since when each pair of people has been close (a box lost for a moment, under
        ``max_gap``, does not part them)."""
        pairs = {}
        for i, a in enumerate(people):
            for b in people[i + 1:]:
                key = _pair(a.track_id, b.track_id)
                since, last = self._pairs.get(key, (now, -math.inf))
                if near(a.box, b.box) or near(b.box, a.box):
                    pairs[key] = (since if now - last <= self.max_gap else now, now)
                elif now - last <= self.max_gap:
                    pairs[key] = (since, last)
        self._pairs = pairs

    def _companions(self, now: float, track_id: int, people: list[Person]) -> list[Person]:
        """The people close to ``track_id`` now who have been close for ``together_seconds``."""
        out = []
        for other in people:
            since, last = self._pairs.get(_pair(track_id, other.track_id), (now, -math.inf))
            if other.track_id != track_id and last == now and now - since >= self.together:
                out.append(other)
        return out

    def _smooth(self, score: _Score, now: float, value: float) -> bool:
        """Add a sample; True when the event fires now. The mean is over the window's length
        at least, so a score's first samples cannot reach the threshold on their own."""
        dt, score.time = min(now - score.time, self.max_gap), now
        score.samples.append((now, value, dt))
        while score.samples[0][0] <= now - self.window:
            score.samples.popleft()
        score.score = sum(v * d for _, v, d in score.samples) / max(
            self.window, sum(d for _, _, d in score.samples))
        self.peak = max(self.peak, score.score)
        if score.score < self.threshold:
            score.above_since = None
            return False
        if score.above_since is None:
            score.above_since = now
        if score.fired or now - score.above_since < self.min_seconds - 1e-9:
            return False
        score.fired = True
        return True

    def _sample(self, now: float, person: Person, people: list[Person]
                ) -> tuple[float, dict[int, float], float] | None:
        """(how fast the limbs moved, 0..1; for each companion, 1 if aimed at, else 0; seconds
        since the track's previous sample), or None when the pose gives no measurement; the
        track's limbs move on to those seen on it."""
        points = np.asarray(person.keypoints, dtype=float)
        if points.ndim != 2 or points.shape[0] < LANDMARKS or points.shape[1] < 3:
            raise ValueError(f"keypoints must be (33, >=3) (x, y, ..., visibility), "
                             f"not {points.shape}")
        xy, visible = points[:, :2], points[:, -1] >= self.min_visibility
        if not all(visible[i] for i in (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP)):
            return None
        shoulders = (xy[LEFT_SHOULDER] + xy[RIGHT_SHOULDER]) / 2
        hips = (xy[LEFT_HIP] + xy[RIGHT_HIP]) / 2
        torso = float(np.hypot(*(shoulders - hips)))
        if torso < 0.15 * _height(person.box):  # a pose that does not fit the person
            return None
        limbs = xy[list(_LIMBS)] - hips
        seen = visible[list(_LIMBS)]
        track = self._tracks.get(person.track_id)
        if track is None:
            self._tracks[person.track_id] = _Track(now, limbs.copy(),
                                                   np.where(seen, now, -math.inf),
                                                   deque([torso], maxlen=5))
            return None
        track.torsos.append(torso)
        speed = self._speed(now, limbs, seen, track) / float(np.median(track.torsos))
        if speed > self.glitch:
            return None  # an estimation error: the next sample is measured from the last good one
        track.limbs[seen], track.seen[seen] = limbs[seen], now
        dt, track.time = min(now - track.time, self.max_gap), now
        fast = min(1.0, max(0.0, (speed - self.slow) / (self.fast - self.slow)))
        return fast, {c.track_id: self._aimed(person, xy, visible, shoulders, c)
                      for c in self._companions(now, person.track_id, people)}, dt

    def _speed(self, now: float, limbs: np.ndarray, seen: np.ndarray, track: _Track) -> float:
        """The fastest limb seen now and recently before, pixels per second. Left and right of
        a kind seen both times are matched to whichever of the two assignments moves them less
        (a pose model swapping them is not a move; a limb moving while its twin stays is one)."""
        fresh = [bool(seen[i]) and 0 < now - track.seen[i] <= self.max_gap
                 for i in range(len(_LIMBS))]

        def move(i: int, j: int) -> float:
            return float(np.hypot(*(limbs[i] - track.limbs[j])))

        fastest = 0.0
        for a, b in ((0, 1), (2, 3)):  # elbows, wrists
            if fresh[a] and fresh[b] and move(a, b) + move(b, a) < move(a, a) + move(b, b):
                pairs = [(a, b), (b, a)]
            else:
                pairs = [(i, i) for i in (a, b) if fresh[i]]
            for i, j in pairs:
                fastest = max(fastest, move(i, j) / (now - track.seen[j]))
        return fastest

    @staticmethod
    def _aimed(person: Person, xy: np.ndarray, visible: np.ndarray, shoulders: np.ndarray,
               other: Person) -> float:
        """1 when ``other`` is touched by this person's wrist or elbow, or has a wrist raised
        above the shoulders towards them (not pointing away); else 0."""
        a, b = person.box, other.box
        margin = 0.05 * (b[2] - b[0])
        for i in _LIMBS:
            x, y = xy[i]
            if visible[i] and b[0] - margin <= x <= b[2] + margin and b[1] <= y <= b[3]:
                return 1.0  # touching (people side by side too: their speed decides)
        side = (b[0] + b[2]) / 2 - (a[0] + a[2]) / 2
        for row in _WRISTS:
            i = _LIMBS[row]
            if visible[i] and xy[i][1] < shoulders[1] \
                    and (xy[i][0] - shoulders[0]) * side >= -0.1 * _height(a) * abs(side):
                return 1.0
        return 0.0
