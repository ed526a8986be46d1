"""Bangs and shouting found in generated street audio at scripted times (known ground truth);
steady horns and quiet knocks are not events."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.analytics.audio import AudioThresholds, detect
from nodes.sources.synthetic import AUDIO_RATE, street_audio

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


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bangs_and_shouts_at_their_times_and_nothing_else(seed: int) -> None:
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
    events = detect(audio, RATE, AudioThresholds())
    assert len(events) == len(truth), events
    for event, (kind, at) in zip(events, sorted(truth, key=lambda t: t[1]), strict=True):
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
