"""One camera's run: source, redaction, redacted output. Failures stay inside the camera."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kernel.errors import SafecityError
from nodes import metrics
from nodes.analytics.runner import CameraAnalyticsRunner, SiteAnalytics
from nodes.config import CameraConfig, NodeSettings
from nodes.live_view import LiveViewSender
from nodes.media import VideoWriter
from nodes.pipeline import RegionLog, Summary, redact_stream
from nodes.plate_sightings import PlateSightings
from nodes.sightings import SightingStore
from nodes.sources import open_camera
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
    video_path, regions_path = output_paths(settings, camera)
    video_path.parent.mkdir(parents=True, exist_ok=True)
    policy = settings.policy_for(camera)
    writer: VideoWriter | None = None
    log: RegionLog | None = None
    summary = Summary()
    started = time.perf_counter()
    plates: PlateSightings | None = None
    analytics: CameraAnalyticsRunner | None = None
    try:
        log = RegionLog(regions_path)
        reconnects = dropped = 0
        source = open_camera(settings, camera)

        def sink(frame: RedactedFrame, log: RegionLog = log) -> None:
            nonlocal writer, reconnects, dropped
            if writer is None:
                height, width = frame.image.shape[:2]
                writer = VideoWriter(video_path, width, height, source.fps)
                summary.width, summary.height, summary.fps = width, height, source.fps
            writer.write(frame.image)
            if live is not None:  # the redacted frame, never the raw one
                live.offer(camera.id, frame.image)
            log.record(frame)
            if plates is not None:
                plates.record(frame)
            summary.frames += 1
            metrics.FRAMES.labels(camera.id).inc()
            metrics.BACKLOG.labels(camera.id).set(redactor.backlog)
            seen = getattr(source, "reconnects", 0), getattr(source, "dropped_frames", 0)
            metrics.RECONNECTS.labels(camera.id).inc(seen[0] - reconnects)
            metrics.DROPPED.labels(camera.id).inc(seen[1] - dropped)
            reconnects, dropped = seen

        frames = source.frames()
        start = datetime.now(UTC)
        if sightings is not None and reader is not None and policy.plates:
            plates = PlateSightings(sightings, camera.id, start, source.fps)
        if vault is not None:
            recorder = SegmentRecorder(vault, camera.id, source.fps, start,
                                       settings.segment_seconds)
            frames = recorder.tee(frames)  # raw frames are encrypted before redaction sees them
        if site is not None and camera.analytics.rules:
            analytics = CameraAnalyticsRunner(camera.id, camera.analytics, source.fps, start,
                                              site.events, site.stitcher, site.token_key,
                                              trajectories=site.trajectories,
                                              behaviour=site.behaviour)
            frames = analytics.tee(frames)  # on the raw frame, in memory
            if getattr(source, "has_sound", False):
                source.listener = analytics.hear  # type: ignore[attr-defined]  # a file with sound
        try:
            with StreamRedactor(metrics.TimedDetectors(detectors, camera.id), policy, source.fps,
                                reader if plates is not None else None) as redactor:
                redact_stream(frames, redactor, sink)
        finally:
            source.close()
            if plates is not None:
                plates.close()  # what was read before a failure is kept too
        if writer is None:
            raise SafecityError(f"camera {camera.id}: source delivered no frames")
        writer.commit()
        log.commit()
    except Exception as exc:  # isolation: report, clean up, let the other cameras run
        if writer is not None:
            writer.abort()
        if log is not None:
            log.abort()
        message = str(exc) if isinstance(exc, SafecityError) else f"{type(exc).__name__}: {exc}"
        return CameraReport(camera.id, "failed", error=message)
    log.fill(summary)
    summary.seconds = time.perf_counter() - started
    return CameraReport(camera.id, "ok", output=str(video_path), summary=summary.as_dict(),
                        segments_recorded=len(recorder.stored) if vault is not None else 0,
                        plate_sightings=plates.recorded if plates is not None else 0,
                        events=analytics.events if analytics is not None else 0)
