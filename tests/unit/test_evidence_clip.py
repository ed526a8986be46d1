"""A short redacted clip around an event, cut from the redacted frames as they pass: the frames
before the event's (from the ring) and after it, at the clip's rate, each with its index and
its time, the event's frame boxed; frames the redactor never handed over are missing, not
invented; a clip begun when the stream ends is cut short."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np

from nodes.evidence import BOX_COLOUR
from nodes.evidence_clip import ClipTaker
from privacy.redaction.engine import RedactedFrame

T = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)


def frame(index: int) -> RedactedFrame:
    image = np.full((360, 640, 3), index % 200, np.uint8)  # each frame its own grey
    return RedactedFrame(index, image, [])


def grey(jpeg: bytes) -> int:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return int(np.median(image))


def test_a_clip_holds_the_frames_around_the_event_with_their_times() -> None:
    taker = ClipTaker("gate", 10.0, before=1.0, after=1.0, fps=5.0, width=320)
    clips = []
    for index in range(40):
        if index == 20:
            taker.want(20, seq=7, time=T, box=(100, 100, 300, 300))
        clips += taker.offer(frame(index))
    [clip] = clips
    assert clip.seq == 7 and clip.camera == "gate"
    assert [f.index for f in clip.frames] == [10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]
    assert [f.time for f in clip.frames] == [T + timedelta(seconds=(i - 20) / 10)
                                            for i in range(10, 31, 2)]
    assert all(abs(grey(f.jpeg) - f.index) <= 2 for f in clip.frames)  # the frame it says
    assert all(f.width == 320 and f.height == 180 for f in clip.frames)
    [boxed] = [f for f in clip.frames if f.box is not None]
    assert boxed.index == 20 and boxed.box == (50, 50, 150, 150)
    image = cv2.imdecode(np.frombuffer(boxed.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(image[50, 100].astype(int) - BOX_COLOUR).max() < 60  # drawn on it


def test_missing_frames_stay_missing_and_the_end_cuts_a_clip_short() -> None:
    taker = ClipTaker("gate", 10.0, before=0.4, after=2.0, fps=10.0)
    taker.want(5, seq=1, time=T, box=None)
    clips = []
    for index in (0, 1, 2, 3, 4, 6, 7, 8):  # the redactor never handed over frame 5
        clips += taker.offer(frame(index))
    assert clips == []
    [clip] = taker.finish()
    assert [f.index for f in clip.frames] == [1, 2, 3, 4, 6, 7, 8]
    assert clip.frames[4].time == T + timedelta(seconds=0.1)  # frame 6 is the event's stand-in
    assert taker.finish() == []
