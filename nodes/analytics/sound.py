"""Listening to a camera's sound track as it is decoded: audio events (``audio.detect``) over a
sliding window, each reported once, as soon as it has ended. Samples live only in this window,
in memory; nothing of the sound is stored or sent."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nodes.analytics.audio import AudioEvent, AudioThresholds, detect

WINDOW_SECONDS = 4.0  # the stretch analysed at a time
SETTLE_SECONDS = 1.5  # an event ending this close to the window's end may still be growing


class SoundWatcher:
    def __init__(self, thresholds: AudioThresholds, rate: int):
        self.thresholds, self.rate = thresholds, rate
        self._buffer = np.zeros(0, np.float32)
        self._offset = 0.0  # stream time of the buffer's first sample
        self._reported = 0.0  # events starting before this were reported

    def feed(self, samples: np.ndarray) -> list[AudioEvent]:
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32)])
        if self._buffer.size < WINDOW_SECONDS * self.rate:
            return []
        end = self._offset + self._buffer.size / self.rate
        found = self._events(lambda e: e.end <= end - SETTLE_SECONDS - self._offset)
        keep = int(SETTLE_SECONDS * 2 * self.rate)  # room for the events still growing
        self._offset += (self._buffer.size - keep) / self.rate
        self._buffer = self._buffer[-keep:]
        return found

    def flush(self) -> list[AudioEvent]:
        found = self._events(lambda e: True)
        self._buffer = np.zeros(0, np.float32)
        return found

    def _events(self, complete: Callable[[AudioEvent], bool]) -> list[AudioEvent]:
        found = []
        for event in detect(self._buffer, self.rate, self.thresholds):
            start = self._offset + event.start
            if start >= self._reported and complete(event):
                found.append(AudioEvent(event.type, start, self._offset + event.end,
                                        event.peak_db))
                self._reported = self._offset + event.end
        return found
