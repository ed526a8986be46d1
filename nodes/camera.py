"""One camera's run: source, redaction, redacted output. Failures stay inside the camera."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from kernel.errors import SafecityError
from nodes import metrics
from nodes.analytics.runner import CameraAnalyticsRunner, SiteAnalytics
from nodes.config import CameraConfig, NodeSettings
from nodes.errors import SourceError
from nodes.evidence import EvidenceTaker
from nodes.evidence_clip import ClipTaker
from nodes.live_view import LiveViewSender
from nodes.pipeline import RedactedOutput, Summary, redact_stream
from nodes.plate_sightings import PlateSightings
from nodes.sightings import SightingStore
from nodes.sources import FrameSource, open_camera
from nodes.vault.recorder import SegmentRecorder
from nodes.vault.vault import Vault
from privacy.redaction.engine import Detectors, RedactedFrame, StreamRedactor
from privacy.redaction.plate_reader import PlateReader


@dataclass
class CameraReport:
    camera: str
    status: str  # "ok" or "failed"
    error: str | None = None
    output: str | None = None
    summary: dict[str, object] = field(default_factory=dict)
    segments_recorded: int = 0
    plate_sightings: int = 0
    events: int = 0
    unreachable: bool = False  # failed because its source could not be reached: worth retrying


def output_paths(settings: NodeSettings, camera: CameraConfig) -> tuple[Path, Path]:
    folder = settings.data_dir / "redacted"
    return folder / f"{camera.id}.mp4", folder / f"{camera.id}.regions.jsonl"


def run_camera(camera: CameraConfig, settings: NodeSettings, detectors: Detectors,
               vault: Vault | None = None, sightings: SightingStore | None = None,
               reader: PlateReader | None = None, site: SiteAnalytics | None = None,
               live: LiveViewSender | None = None) -> CameraReport:
    """Redact everything ``camera`` delivers into the node's data folder, and, with a vault,
    keep the raw frames there, encrypted.

    Any error is reported in the returned report, never raised: one camera failing must not stop
    the others. Outputs are published only when complete.
    """
    return CameraRun(camera, settings, detectors, vault, sightings, reader, site, live).run()


class CameraRun:
    """One run of one camera. What the run opened is held here, so that a failure can close it
    and the report can count it; the source's reconnections and dropped frames are turned into
    metrics as they grow."""

    def __init__(self, camera: CameraConfig, settings: NodeSettings, detectors: Detectors,
                 vault: Vault | None = None, sightings: SightingStore | None = None,
                 reader: PlateReader | None = None, site: SiteAnalytics | None = None,
                 live: LiveViewSender | None = None):
        self.camera, self.settings, self.detectors = camera, settings, detectors
        self.vault, self.sightings, self.reader = vault, sightings, reader
        self.site, self.live = site, live
        self.policy = settings.policy_for(camera)
        self.output: RedactedOutput | None = None
        self.source: FrameSource | None = None
        self.redactor: StreamRedactor | None = None
        self.recorder: SegmentRecorder | None = None
        self.plates: PlateSightings | None = None
        self.analytics: CameraAnalyticsRunner | None = None
        self.evidence: EvidenceTaker | None = None
        self._reconnects = self._dropped = 0  # already counted in the metrics

    def run(self) -> CameraReport:
        started = time.perf_counter()
        try:
            summary = self._redact()
        except Exception as exc:  # isolation: report, clean up, let the other cameras run
            if self.output is not None:
                self.output.abort()
            message = (str(exc) if isinstance(exc, SafecityError)
                       else f"{type(exc).__name__}: {exc}")
            return CameraReport(self.camera.id, "failed", error=message,
                                unreachable=isinstance(exc, SourceError))
        summary.seconds = time.perf_counter() - started
        return self._report(summary)

    def _redact(self) -> Summary:
        video_path, regions_path = output_paths(self.settings, self.camera)
        video_path.parent.mkdir(parents=True, exist_ok=True)
        self.output = RedactedOutput(video_path, regions_path)
        source = self.source = open_camera(self.settings, self.camera)
        try:
            frames = self._tee(source, source.frames(), datetime.now(UTC))
            with StreamRedactor(metrics.TimedDetectors(self.detectors, self.camera.id),
                                self.policy, source.fps,
                                self.reader if self.plates is not None else None) as redactor:
                self.redactor = redactor
                redact_stream(frames, redactor, self._sink)
            if self.evidence is not None:
                self.evidence.finish()
        finally:
            source.close()
            if self.plates is not None:
                self.plates.close()  # what was read before a failure is kept too
        if self.output.summary.frames == 0:
            raise SafecityError(f"camera {self.camera.id}: source delivered no frames")
        return self.output.commit()

    def _tee(self, source: FrameSource, frames: Iterator[np.ndarray], start: datetime
             ) -> Iterator[np.ndarray]:
        """Hand the raw frames to the vault and the analytics before redaction sees them, and
        start the plate sightings this camera's policy asks for."""
        camera = self.camera
        if self.sightings is not None and self.reader is not None and self.policy.plates:
            self.plates = PlateSightings(self.sightings, camera.id, start, source.fps)
        if self.vault is not None:
            self.recorder = SegmentRecorder(self.vault, camera.id, source.fps, start,
                                            self.settings.segment_seconds)
            frames = self.recorder.tee(frames)  # encrypted before redaction sees them
        if self.site is not None and camera.analytics.rules:
            site, settings = self.site, self.settings
            if settings.evidence_seconds:
                self.evidence = EvidenceTaker(site.events, camera.id, settings.evidence_seconds,
                                              settings.evidence_width,
                                              settings.evidence_max_bytes,
                                              self._clips(source.fps))
            self.analytics = CameraAnalyticsRunner(
                camera.id, camera.analytics, source.fps, start, site.events, site.stitcher,
                site.token_key, trajectories=site.trajectories, behaviour=site.behaviour,
                threats=site.threats,
                objects=site.objects.get(camera.analytics.nanodet.input_size),
                evidence=self.evidence)
            frames = self.analytics.tee(frames)  # on the raw frame, in memory
            if source.has_sound:
                source.listener = self.analytics.hear
        return frames

    def _clips(self, fps: float) -> ClipTaker | None:
        """The clips cut beside the evidence, unless ``evidence_clip_hours`` is 0."""
        settings = self.settings
        if not settings.evidence_clip_hours:
            return None
        return ClipTaker(self.camera.id, fps, before=settings.evidence_clip_before_seconds,
                         after=settings.evidence_clip_after_seconds, fps=settings.evidence_clip_fps,
                         width=settings.evidence_clip_width,
                         max_bytes=settings.evidence_clip_max_bytes)

    def _sink(self, frame: RedactedFrame) -> None:
        assert self.output is not None and self.source is not None
        self.output.write(frame, self.source.fps)
        if self.live is not None:  # the redacted frame, never the raw one
            self.live.offer(self.camera.id, frame.image)
        if self.evidence is not None:  # likewise
            self.evidence.offer(frame)
        if self.plates is not None:
            self.plates.record(frame)
        self._count(frame)

    def _count(self, frame: RedactedFrame) -> None:
        assert self.source is not None and self.redactor is not None
        camera_id, source = self.camera.id, self.source
        metrics.FRAMES.labels(camera_id).inc()
        metrics.BACKLOG.labels(camera_id).set(self.redactor.backlog)
        metrics.RECONNECTS.labels(camera_id).inc(source.reconnects - self._reconnects)
        metrics.DROPPED.labels(camera_id).inc(source.dropped_frames - self._dropped)
        self._reconnects, self._dropped = source.reconnects, source.dropped_frames

    def _report(self, summary: Summary) -> CameraReport:
        assert self.output is not None
        return CameraReport(
            self.camera.id, "ok", output=str(self.output.video),
            summary=summary.as_dict(),
            segments_recorded=len(self.recorder.stored) if self.recorder is not None else 0,
            plate_sightings=self.plates.recorded if self.plates is not None else 0,
            events=self.analytics.events if self.analytics is not None else 0)
