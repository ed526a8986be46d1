"""One camera's analytics on its raw frames, in memory: detect, track, apply the rules, and store
anonymous events with site-local tokens. Runs before redaction sees the frame: the evidence of
an event is asked for here and cut later from the redacted frame (``nodes.evidence``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from contract.events import COUNTED_TYPES
from nodes.analytics.aggression_watch import AggressionWatcher, ThreatModels, watched_rules
from nodes.analytics.audio import AudioEvent
from nodes.analytics.behaviour import BehaviourWatcher, Scorer
from nodes.analytics.config import CameraAnalytics, UnusualBehaviour
from nodes.analytics.detection import Detector, analysis_step, make_detector
from nodes.analytics.rules import Event, RuleEngine, TrackBox
from nodes.analytics.sound import SoundWatcher
from nodes.analytics.stitching import Stitcher, appearance, token
from nodes.analytics.tracker import ByteTracker, Track
from nodes.analytics.trajectories import PathRecorder, TrajectoryStore
from nodes.analytics.visits import Visit, VisitCounter
from nodes.events import EventStore, StoredEvent
from nodes.evidence import EvidenceTaker, union

if TYPE_CHECKING:
    from privacy.redaction.objects import ObjectDetector, SharedObjects


@dataclass
class SiteAnalytics:
    """What the cameras of one node share: the event store, the hand-over, the token key, the
    trajectories kept for training, the installed unusual-behaviour model."""

    events: EventStore
    stitcher: Stitcher
    token_key: bytes
    trajectories: TrajectoryStore | None = None
    behaviour: Scorer | None = None
    threats: ThreatModels | None = None  # pose and object models, for weapon/aggression rules
    # the COCO detector for each input size the cameras ask for
    objects: dict[int, SharedObjects] = field(default_factory=dict)


class CameraAnalyticsRunner:
    def __init__(self, camera: str, analytics: CameraAnalytics, fps: float, start: datetime,
                 store: EventStore, stitcher: Stitcher, token_key: bytes,
                 detector: Detector | None = None, trajectories: TrajectoryStore | None = None,
                 behaviour: Scorer | None = None, threats: ThreatModels | None = None,
                 objects: ObjectDetector | SharedObjects | None = None,
                 evidence: EvidenceTaker | None = None):
        self.camera, self.fps, self.start = camera, fps, start
        self.evidence = evidence
        self.store, self.stitcher, self.token_key = store, stitcher, token_key
        self.trajectories = trajectories
        unusual = [r for r in analytics.rules if isinstance(r, UnusualBehaviour)]
        self.watcher = BehaviourWatcher(unusual, behaviour) if unusual and behaviour else None
        self.threats = (AggressionWatcher(analytics, threats, camera)
                        if watched_rules(analytics) else None)
        self.paths: PathRecorder | None = None
        # Only one frame in ``step`` is analysed (the detector's rate): the tracker, the gate
        # and the rules see that rate; the other frames are only redacted.
        self.step = analysis_step(analytics, fps) if detector is None else 1
        rate = fps / self.step
        self.detector = detector or make_detector(analytics, rate, objects)
        if analytics.detector == "nanodet":  # its own score bands (config.ObjectDetection)
            settings = analytics.nanodet
            self.tracker = ByteTracker(high=settings.track_score, low=settings.min_score,
                                       max_age=max(1, int(rate)), faint=settings.faint_score)
        else:
            self.tracker = ByteTracker(high=0.5, max_age=max(1, int(rate)))
        self._tracks: list[Track] = []
        self.analytics = analytics
        self.rules: RuleEngine | None = None
        self.visits: VisitCounter | None = None
        self.sound: SoundWatcher | None = None
        self._looks: dict[int, np.ndarray] = {}  # last appearance of each live track
        self._last = 0
        self.events = 0

    def process(self, index: int, frame: np.ndarray) -> list[Track]:
        """Analyse one raw frame; the tracks confirmed on it (on a frame between two analysed
        ones, those of the last analysed frame)."""
        if index % self.step:
            return self._tracks
        height, width = frame.shape[:2]
        if self.rules is None:
            self.rules = RuleEngine(self.analytics, aspect=width / height)
            self.visits = VisitCounter(self.rules.zones)
            self.paths = PathRecorder(aspect=width / height)
        now, self._last = index / self.fps, index
        tracks = self.tracker.update(self.detector.detect(frame))
        for track in tracks:
            new = track.track_id not in self._looks
            if new or (index // self.step) % max(1, int(self.fps / self.step)) == 0:
                box = tuple(int(v) for v in track.box)
                self._looks[track.track_id] = appearance(frame, box)  # type: ignore[arg-type]  # 4 ints
            if new:
                self.stitcher.track_started(self.camera, track.track_id, now,
                                            self._looks[track.track_id])
        current = {t.track_id for t in self.tracker.tracks}
        for ended in [t for t in self._looks if t not in current]:
            self.stitcher.track_ended(self.camera, ended, now, self._looks.pop(ended))
        boxes = [TrackBox(t.track_id, t.kind, (t.box[0] / width, t.box[1] / height,
                                               t.box[2] / width, t.box[3] / height))
                 for t in tracks]
        moment = self.start + timedelta(seconds=now)
        self.paths.update(now, boxes)  # type: ignore[union-attr]  # set on the first frame
        found = self.rules.update(now, boxes)
        if self.watcher is not None:
            found += self.watcher.update(now, boxes, self.paths)  # type: ignore[arg-type]  # (as above)
        if self.threats is not None:
            found += self.threats.update(now, frame, tracks)
        self._keep(self.paths.ended(current), moment)  # type: ignore[union-attr]  # (as above)
        stored = []
        for event in found:
            tokens = tuple(token(self.token_key,
                                 self.stitcher.identity.get((self.camera, t), -t),
                                 moment.timestamp()) for t in event.tracks)
            stored.append(StoredEvent(event.type, event.rule, self.camera, event.zone,
                                      event.line, event.direction, moment, event.count, tokens,
                                      score=event.score))
        seqs = self.store.add_many(stored)
        self.events += len(stored)
        if self.evidence is not None:
            self._want_evidence(index, now, moment, found, seqs, tracks)
        self._store_visits(self.visits.update(now, boxes))  # type: ignore[union-attr]  # (as above)
        self._tracks = tracks
        return tracks

    def _want_evidence(self, index: int, now: float, moment: datetime, found: list[Event],
                       seqs: list[int], tracks: list[Track]) -> None:
        """Ask for the evidence of the events to be handled (not of counts), the box around
        the tracks each names (none for an event about the whole scene)."""
        assert self.evidence is not None
        boxes = {t.track_id: t.box for t in tracks}
        for event, seq in zip(found, seqs, strict=True):
            if event.type in COUNTED_TYPES:
                continue
            box = union([boxes[t] for t in event.tracks if t in boxes])
            self.evidence.want(index, now, seq, moment,
                               (event.rule, event.type, event.zone or event.line or ""), box)

    def _keep(self, ended: list[tuple[str, np.ndarray]], moment: datetime) -> None:
        if self.trajectories is not None and ended:
            self.trajectories.add_many(self.camera, moment, ended)

    def _store_visits(self, visits: list[Visit]) -> None:
        self.store.add_visits(self.camera, [
            (v.zone, self.start + timedelta(seconds=v.entered), v.seconds) for v in visits])

    def hear(self, samples: np.ndarray, rate: int) -> None:
        """The camera's sound track, as it is decoded: bangs and shouts become events."""
        if not self.analytics.audio.enabled:
            return
        if self.sound is None:
            self.sound = SoundWatcher(self.analytics.audio, rate)
        self._store_sounds(self.sound.feed(samples))

    def _store_sounds(self, sounds: list[AudioEvent]) -> None:
        stored = [StoredEvent(s.type, "audio", self.camera, None, None, None,
                              self.start + timedelta(seconds=s.start), 1, ()) for s in sounds]
        self.store.add_many(stored)
        self.events += len(stored)

    def finish(self) -> None:
        if self.paths is not None:
            self._keep(self.paths.flush(), self.start + timedelta(seconds=self._last / self.fps))
        if self.visits is not None:
            self._store_visits(self.visits.flush())
        if self.sound is not None:
            self._store_sounds(self.sound.flush())

    def tee(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for index, frame in enumerate(frames):
            self.process(index, frame)
            yield frame
        self.finish()
