"""Audio events from a camera's sound track: bangs and shouting (pure numpy, no model).

Frames of 25 ms every 10 ms give a level (RMS, dBFS), an onset strength (the rise in level from
the previous frames) and a harmonicity (the normalized autocorrelation peak in the voice pitch
range, as in Boersma's pitch tracker, "Accurate short-term analysis of the fundamental frequency
and the harmonics-to-noise ratio of a sampled sound", 1993).

- A bang is a sudden loud broadband sound: the level jumps by ``bang_onset_db`` within 30 ms to at
  least ``bang_db``, is not harmonic, and falls back within ``bang_max_seconds``.
- Shouting is loud voiced sound: at least ``shout_db`` and harmonic for ``shout_seconds``, with a
  pitch that moves (speech and shouts glide; horns, alarms and engines hold a steady pitch).

Only the event type, time and peak level leave the node; audio is never stored or sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

FRAME_SECONDS, HOP_SECONDS = 0.025, 0.010
PITCH_RANGE = (120.0, 700.0)


class AudioThresholds(BaseModel):
    """Per camera; ``[cameras.analytics.audio]`` in the node config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="listen to the camera's sound track")
    bang_db: float = Field(default=-12.0, le=0, description="peak level, dBFS")
    bang_onset_db: float = Field(default=18.0, gt=0, description="rise within 30 ms")
    bang_max_seconds: float = Field(default=0.4, gt=0, description="a bang is shorter than this")
    shout_db: float = Field(default=-22.0, le=0, description="level a shout reaches, dBFS")
    shout_seconds: float = Field(default=0.5, gt=0, description="a shout lasts at least this")
    harmonicity: float = Field(default=0.6, gt=0, lt=1,
                               description="how voiced a sound must be to be a shout")
    min_pitch_spread_hz: float = Field(default=15.0, ge=0,
                                       description="pitch movement that tells a voice from a horn")


@dataclass(frozen=True)
class AudioEvent:
    type: str  # "bang" | "shout"
    start: float  # seconds from the start of the track
    end: float
    peak_db: float


@dataclass(frozen=True)
class Features:
    level_db: np.ndarray
    harmonicity: np.ndarray
    pitch_hz: np.ndarray
    hop: float


def features(samples: np.ndarray, rate: int) -> Features:
    samples = np.asarray(samples, dtype=np.float64)
    size, hop = int(FRAME_SECONDS * rate), int(HOP_SECONDS * rate)
    count = max(0, 1 + (samples.size - size) // hop)
    if count == 0:
        empty = np.zeros(0)
        return Features(empty, empty, empty, HOP_SECONDS)
    index = np.arange(size)[None, :] + hop * np.arange(count)[:, None]
    frames = samples[index] * np.hanning(size)[None, :]
    rms = np.sqrt(np.mean(frames**2, axis=1) / np.mean(np.hanning(size) ** 2))
    level = 20 * np.log10(np.maximum(rms, 1e-6))
    low, high = int(rate / PITCH_RANGE[1]), min(size // 2, int(rate / PITCH_RANGE[0]))
    spectrum = np.fft.rfft(frames, n=2 * size, axis=1)
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :high]
    # divided by the window's own autocorrelation, so a periodic signal scores 1 at its period
    window_ac = np.correlate(np.hanning(size), np.hanning(size), "full")[size - 1:size - 1 + high]
    normalized = autocorrelation / np.maximum(autocorrelation[:, :1], 1e-12) / (
        window_ac / window_ac[0])[None, :]
    lags = normalized[:, low:high]
    best = np.argmax(lags, axis=1)
    return Features(level, np.clip(lags[np.arange(count), best], 0, 1),
                    rate / (best + low), HOP_SECONDS)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges where ``mask`` is True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def detect(samples: np.ndarray, rate: int, thresholds: AudioThresholds) -> list[AudioEvent]:
    f = features(samples, rate)
    events: list[AudioEvent] = []
    if not thresholds.enabled or f.level_db.size == 0:
        return events
    rise_frames = max(1, round(0.03 / f.hop))
    before = np.concatenate([np.full(rise_frames, f.level_db[0]), f.level_db[:-rise_frames]])
    onset = f.level_db - before
    loud = f.level_db >= thresholds.bang_db
    for start, end in _runs(loud):
        if (onset[start:min(end, start + rise_frames + 1)].max() >= thresholds.bang_onset_db
                and (end - start) * f.hop <= thresholds.bang_max_seconds
                and np.median(f.harmonicity[start:end]) < thresholds.harmonicity):
            events.append(AudioEvent("bang", start * f.hop, end * f.hop,
                                     float(f.level_db[start:end].max())))
    voiced = (f.level_db >= thresholds.shout_db) & (f.harmonicity >= thresholds.harmonicity)
    voiced = _close_gaps(voiced, round(0.15 / f.hop))
    for start, end in _runs(voiced):
        if (end - start) * f.hop < thresholds.shout_seconds:
            continue
        pitch = f.pitch_hz[start:end][f.harmonicity[start:end] >= thresholds.harmonicity]
        if pitch.size and np.percentile(pitch, 90) - np.percentile(pitch, 10) >= \
                thresholds.min_pitch_spread_hz:
            events.append(AudioEvent("shout", start * f.hop, end * f.hop,
                                     float(f.level_db[start:end].max())))
    return sorted(events, key=lambda e: e.start)


def _close_gaps(mask: np.ndarray, frames: int) -> np.ndarray:
    """Fill gaps shorter than ``frames`` (the pauses between shouted syllables)."""
    result = mask.copy()
    runs = _runs(~mask)
    for start, end in runs:
        if start > 0 and end < mask.size and end - start < frames:
            result[start:end] = True
    return result
