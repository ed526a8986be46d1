"""A node run cuts a clip beside each evidence snapshot: from the redacted frames (the face
detector that finds faces in the raw video finds none in any clip frame), for exactly the events
that got evidence (the same thinning per rule and place), around the event's frame, boxed there.
The camera's source is a real video file, encoded here and decoded by the node."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from nodes.config import load_settings
from nodes.events import Clip, EventStore, StoredEvent, StoredEvidence
from nodes.node import run_node
from privacy import model_registry
from privacy.redaction.faces import CenterFaceDetector
from simulation.synthetic import Scene, SceneSpec

SPEC = SceneSpec(width=640, height=360, fps=10, seconds=3, people=4, vehicles=0, seed=11,
                 face_sizes=(40, 90))
ANALYTICS = """[cameras.analytics]
detector = "motion"
zones = [{id = "all", polygon = [[0, 0], [1, 0], [1, 1], [0, 1]]}]
rules = [{id = "keep-out", type = "restricted_area", zone = "all"}]"""
Run = tuple[list[StoredEvent], list[StoredEvidence], dict[int, Clip], list[np.ndarray]]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Run:
    root = tmp_path_factory.mktemp("clip-node")
    video = root / "street.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), SPEC.fps,
                             (SPEC.width, SPEC.height))
    raw = [frame for frame, _ in Scene(SPEC).frames()]
    for frame in raw:
        writer.write(frame)
    writer.release()
    config = root / "node.toml"
    config.write_text(f'site_id = "test-site"\ndata_dir = "{root / "data"}"\n'
                      'plate_sightings = false\nevidence_seconds = 1.0\n'
                      'evidence_clip_before_seconds = 0.5\nevidence_clip_after_seconds = 0.5\n'
                      'evidence_clip_fps = 5\nevidence_clip_width = 320\n'
                      f'[[cameras]]\nid = "gate"\nsource = "{video}"\n{ANALYTICS}\n')
    settings = load_settings(config, model_dir=model_dir)
    (report,) = run_node(settings)
    assert report.status == "ok", report.error
    store = EventStore(settings.stores.events)
    try:
        events, evidence = store.all(), store.evidence()
        clips = {e.seq: c for e in events if (c := store.clip(e.seq, "gate")) is not None}
    finally:
        store.close()
    return events, evidence, clips, raw


def test_a_clip_is_cut_for_each_event_with_evidence_and_no_other(run: Run) -> None:
    events, evidence, clips, _ = run
    assert len(evidence) >= 2 and len(events) > len(evidence)  # thinned
    assert set(clips) == {e.seq for e in evidence}
    by_seq = {e.seq: e for e in events}
    for seq, clip in clips.items():
        indices = [f.index for f in clip.frames]
        assert indices == sorted(indices) and len(indices) <= 0.5 * 2 * 5 + 2
        [marked] = [f for f in clip.frames if f.event_frame]
        assert marked.time == by_seq[seq].time and marked.box is not None
        assert all(f.box is None for f in clip.frames if not f.event_frame)
        for f in clip.frames:  # each at its distance from the event's frame, at 10 fps
            assert abs((f.time - marked.time).total_seconds() - (f.index - marked.index) / 10
                       ) < 1e-6
            image = cv2.imdecode(np.frombuffer(f.jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert image.shape == (f.height, f.width, 3) == (180, 320, 3)


def test_clip_frames_come_from_the_redacted_video(run: Run, model_dir: Path) -> None:
    _, _, clips, raw = run
    checker = CenterFaceDetector(model_registry.model_path("centerface", model_dir))

    def seen(image: np.ndarray) -> int:  # faces found at the clip's size, enlarged back
        small = cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA)
        return len(checker.detect(cv2.resize(small, (SPEC.width, SPEC.height),
                                             interpolation=cv2.INTER_CUBIC)))

    # the same detector, the same sizes, finds faces in the raw video's frames
    assert sum(seen(raw[f.index]) for clip in clips.values() for f in clip.frames) >= 3
    for clip in clips.values():
        for f in clip.frames:
            image = cv2.imdecode(np.frombuffer(f.jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert seen(image) == 0, (clip.seq, f.index)
