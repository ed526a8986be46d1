"""The stream pipeline on real encoded video: redaction is checked on the output, not assumed."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from nodes.media import VideoReader
from nodes.pipeline import redact_stream, redact_video_file
from privacy.redaction.boxes import Box
from privacy.redaction.engine import Detectors, RedactedFrame, StreamRedactor
from privacy.redaction.policy import RedactionPolicy
from simulation.evaluation import Score, leaks
from simulation.synthetic import Scene, SceneSpec


def test_fill_leaves_no_original_pixel_in_any_ground_truth_box(
    detectors: Detectors, policy: RedactionPolicy
) -> None:
    """Before encoding, every covered ground-truth box holds only the fill colour."""
    checked = 0
    for seed in (8, 9):
        checked += _check_fill(detectors, policy, seed)
    assert checked > 200


def _check_fill(detectors: Detectors, policy: RedactionPolicy, seed: int) -> int:
    spec = SceneSpec(width=640, height=360, seconds=1.6, people=4, vehicles=2,
                     face_sizes=(32, 80), plate_widths=(90, 140), seed=seed)
    rendered = list(Scene(spec).frames())
    fill = policy.model_copy(update={"colour": (255, 0, 255)})
    out: list[RedactedFrame] = []
    with StreamRedactor(detectors, fill, spec.fps) as stream:
        redact_stream((f.copy() for f, _ in rendered), stream, out.append)
    assert [f.index for f in out] == list(range(len(rendered)))
    checked = 0
    for (_, truth), done in zip(rendered, out, strict=True):
        for item in truth:
            if item.visible < 0.9:
                continue
            inside = done.image[item.box.pixel_slice(spec.width, spec.height)]
            assert (inside == (255, 0, 255)).all(), (seed, done.index, item)
            checked += 1
    return checked


def test_redacted_video_has_no_detectable_face_and_keeps_audio(
    scene_video, detectors: Detectors, policy: RedactionPolicy, tmp_path: Path
) -> None:
    source, spec, truth = scene_video
    target = tmp_path / "out.mp4"
    boxes = tmp_path / "boxes.jsonl"
    summary = redact_video_file(source, target, policy, detectors, boxes)
    assert summary.frames == spec.frame_count
    assert summary.audio

    with av.open(str(target)) as container:
        assert container.streams.audio, "audio track dropped"
        assert container.streams.video[0].codec_context.name == "h264"

    strict = detectors.face
    assert strict is not None
    frames = 0
    found = 0
    with VideoReader(target) as reader:
        for kind, image in reader.packets():
            if kind == "video":
                found += leaks(strict.detect(image), truth[frames])
                frames += 1
    assert frames == spec.frame_count
    assert found == 0

    records = [json.loads(line) for line in boxes.read_text().splitlines()]
    assert records and set(records[0]) == {"frame", "kind", "box", "score", "track", "detected"}
    score = Score()
    by_frame: dict[int, list[Box]] = {}
    for record in records:
        by_frame.setdefault(record["frame"], []).append(Box(*record["box"]))
    for index, frame_truth in enumerate(truth):
        score.add_frame(spec.width, spec.height, frame_truth, by_frame.get(index, []))
    assert score.count("face") > 50 and score.count("plate") > 10
    assert score.recall("face") >= 0.95
    assert score.recall("plate") >= 0.9


def test_output_frames_match_input_count_for_every_detection_rate(
    detectors: Detectors, policy: RedactionPolicy
) -> None:
    frames = [np.zeros((64, 96, 3), np.uint8) for _ in range(23)]
    for every in (1, 2, 5, 50):
        out: list[RedactedFrame] = []
        with StreamRedactor(detectors, policy.model_copy(update={"detect_every": every}),
                            25.0) as stream:
            redact_stream((f.copy() for f in frames), stream, out.append)
        assert [f.index for f in out] == list(range(23))


class _Jittery:
    """The real detectors, answering after a random delay (a fault injected: a busy CPU)."""

    def __init__(self, detectors: Detectors, seed: int):
        self._detectors = detectors
        self._rng = np.random.default_rng(seed)

    def detect(self, frame: np.ndarray, plates: bool = True):
        import time

        time.sleep(float(self._rng.uniform(0, 0.03)))
        return self._detectors.detect(frame, plates)


def test_regions_do_not_depend_on_detection_timing(
    detectors: Detectors, policy: RedactionPolicy
) -> None:
    spec = SceneSpec(width=480, height=270, seconds=1.2, people=3, vehicles=1,
                     face_sizes=(32, 60), plate_widths=(80, 110), seed=6)
    rendered = [f for f, _ in Scene(spec).frames()]
    runs = []
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed + 10)

        def slow_camera(rng: np.random.Generator):  # uneven pace, as from a network camera
            import time

            for f in rendered:
                time.sleep(float(rng.choice([0.0, 0.0, 0.05])))
                yield f.copy()

        out: list[RedactedFrame] = []
        with StreamRedactor(_Jittery(detectors, seed), policy, spec.fps) as stream:  # type: ignore[arg-type]
            redact_stream(slow_camera(rng), stream, out.append)
        runs.append([[(r.kind, r.box, r.track_id) for r in f.regions] for f in out])
    assert runs[0] == runs[1] == runs[2]
    assert sum(len(regions) for regions in runs[0]) > 30
