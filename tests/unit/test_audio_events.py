"""Bangs and shouting found in generated street audio at scripted times (known ground truth);
steady horns and quiet knocks are not events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from nodes.analytics.audio import AudioThresholds, detect
from nodes.analytics.config import CameraAnalytics
from nodes.analytics.runner import CameraAnalyticsRunner
from nodes.analytics.sound import SoundWatcher
from nodes.analytics.stitching import Stitcher
from nodes.events import EventStore
from nodes.media import VideoWriter
from nodes.sources.files import VideoFileSource
from simulation.synthetic import AUDIO_RATE, street_audio

RATE = AUDIO_RATE


def bang(rng: np.random.Generator, amplitude: float = 0.8) -> np.ndarray:
    t = np.arange(int(0.08 * RATE)) / RATE
    return amplitude * rng.standard_normal(t.size) * np.exp(-t / 0.02)


def shout(seconds: float, amplitude: float) -> np.ndarray:
    """A voiced, gliding, syllabic harmonic sound."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 260 + 80 * np.sin(2 * np.pi * 0.8 * t) + 40 * t
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(0.8**k * np.sin(k * phase) for k in range(1, 8))
    return amplitude * voice / 3 * (0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 2.5 * t)))


def horn(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return 0.3 * (np.sin(2 * np.pi * 415 * t) + 0.5 * np.sin(2 * np.pi * 830 * t))


def street_with_events(seed: int) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """12 s of street sound with two bangs and two shouts (and a horn and a quiet knock that
    are not events) at known times."""
    rng = np.random.default_rng(seed)
    audio = street_audio(12, seed).astype(np.float64)
    truth = []
    for signal, at, kind in ((bang(rng), 1.0, "bang"), (bang(rng, 0.6), 7.3, "bang"),
                             (shout(1.2, 0.3), 3.0, "shout"), (shout(1.5, 0.25), 9.0, "shout"),
                             (horn(), 5.1, None), (bang(rng, 0.02), 11.0, None)):
        start = int(at * RATE)
        audio[start:start + signal.size] += signal
        if kind:
            truth.append((kind, at))
    return audio, sorted(truth, key=lambda t: t[1])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bangs_and_shouts_at_their_times_and_nothing_else(seed: int) -> None:
    audio, truth = street_with_events(seed)
    events = detect(audio, RATE, AudioThresholds())
    assert len(events) == len(truth), events
    for event, (kind, at) in zip(events, truth, strict=True):
        assert event.type == kind
        assert abs(event.start - at) <= 0.06


def test_thresholds_are_per_camera() -> None:
    rng = np.random.default_rng(9)
    audio = street_audio(3, 9).astype(np.float64)
    audio[RATE:RATE + int(0.08 * RATE)] += bang(rng, 0.8)
    assert [e.type for e in detect(audio, RATE, AudioThresholds())] == ["bang"]
    assert detect(audio, RATE, AudioThresholds(bang_db=-1.0)) == []
    assert detect(audio, RATE, AudioThresholds(enabled=False)) == []
    assert detect(np.zeros(10), RATE, AudioThresholds()) == []


@pytest.mark.parametrize("chunk", [160, 1024, 48000])
def test_listening_as_the_track_is_decoded_finds_the_same_events(chunk: int) -> None:
    audio, truth = street_with_events(5)
    watcher = SoundWatcher(AudioThresholds(), RATE)
    heard = []
    for start in range(0, audio.size, chunk):
        heard += watcher.feed(audio[start:start + chunk])
    heard += watcher.flush()
    assert [(e.type, round(e.start, 1)) for e in heard] == \
        [(e.type, round(e.start, 1)) for e in detect(audio, RATE, AudioThresholds())]
    assert [e.type for e in heard] == [kind for kind, _ in truth]


def test_a_cameras_sound_track_becomes_events(tmp_path: Path) -> None:
    """Through a real file: AAC-encoded, demuxed with the video, resampled, listened to."""
    audio, truth = street_with_events(6)
    audio = np.clip(audio, -1, 1)  # a camera's converter clips at full scale
    path = tmp_path / "camera.mp4"
    writer = VideoWriter(path, 160, 120, 10.0, audio_rate=RATE)
    for _ in range(120):
        writer.write(np.full((120, 160, 3), 90, np.uint8))
    for start in range(0, audio.size, 1024):
        writer.write_samples(audio[start:start + 1024].astype(np.float32), RATE)
    writer.commit()
    source = VideoFileSource(path)
    store = EventStore(tmp_path / "events.sqlite")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    analytics = CameraAnalytics.model_validate({"detector": "motion", "zones": [
        {"id": "all", "polygon": [[0, 0], [1, 0], [1, 1]]}], "rules": [
            {"id": "in", "type": "restricted_area", "zone": "all"}]})
    runner = CameraAnalyticsRunner("cam", analytics, source.fps, start, store, Stitcher([]),
                                   b"k" * 32)
    assert source.has_sound
    source.listener = runner.hear
    for _ in runner.tee(source.frames()):
        pass
    events = [(e.type, (e.time - start).total_seconds()) for e in store.all()
              if e.rule == "audio"]
    assert [kind for kind, _ in events] == [kind for kind, _ in truth]
    for (_, at), (_, expected) in zip(events, truth, strict=True):
        assert abs(at - expected) <= 0.15  # the AAC encoder's priming delay included
    assert all(e.tokens == () and e.zone is None for e in store.all() if e.rule == "audio")
