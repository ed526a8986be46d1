"""Redaction accuracy on ground truth.

1. Stills: 1280x720 frames of a generated street (real LFW face crops pasted at known boxes, 24 to
   200 px; rendered plates on vehicles; random lighting and backgrounds), detectors run on every
   frame. Prints recall per kind and size bucket and the false-redaction area.
2. Video: generated 720p clips through the full stream pipeline (keyframe detection, tracks,
   persistence), scored on every frame.
3. Real image: the plate in Debian opencv-doc's licenseplate_motion.jpg (a motion-blurred photo),
   hand-labelled box; prints how much of it is covered.

Targets (issue 2): face recall >= 0.95 for faces of 32 px and larger, plate recall >= 0.90.

    python bench/redact_accuracy.py [--frames 60] [--model-dir DIR]
"""

from __future__ import annotations

import time
from pathlib import Path

import harness  # puts the repository on the import path
import numpy as np

from nodes.media import read_image
from privacy.redaction.boxes import Box
from privacy.redaction.engine import Detectors, StreamRedactor, redact_image
from privacy.redaction.policy import RedactionPolicy
from simulation.evaluation import Score
from simulation.synthetic import Scene, SceneSpec

REAL_PLATE = Path("/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg")
REAL_PLATE_BOX = Box(228, 222, 358, 298)  # hand-labelled on the 600x482 image


def print_score(title: str, score: Score) -> None:
    print(f"\n{title}")
    print(f"{'kind':6} {'size px':>9} {'objects':>8} {'recall':>7}")
    for row in score.table():
        print(f"{row['kind']:6} {row['size']:>9} {row['objects']:>8} {row['recall']:>7.3f}")
    print(f"face recall (>= 32 px): {score.recall('face', 32):.3f}   "
          f"plate recall: {score.recall('plate'):.3f}   "
          f"false-redaction area: {score.false_fraction:.2%} of frame area")


def stills(detectors: Detectors, policy: RedactionPolicy, frames: int) -> None:
    still = policy.model_copy(update={"detect_every": 1, "plates_every": 1})
    score = Score()
    started = time.perf_counter()
    for seed in range(frames):
        scene = Scene(SceneSpec(people=5, vehicles=2, face_sizes=(24, 200),
                                plate_widths=(80, 240), seed=10_000 + seed))
        frame, truth = scene.render(0.0)
        done = redact_image(frame.copy(), detectors, still)
        score.add_frame(1280, 720, truth, [r.box for r in done.regions])
    print_score(f"STILLS: {frames} frames 1280x720, detection on every frame "
                f"({(time.perf_counter() - started) / frames * 1000:.0f} ms/frame)", score)


def video(detectors: Detectors, policy: RedactionPolicy, clips: int) -> None:
    score = Score()
    count = 0
    for seed in range(clips):
        spec = SceneSpec(seconds=4, people=5, vehicles=2, face_sizes=(24, 200),
                         plate_widths=(80, 240), seed=20_000 + seed)
        scene = Scene(spec)
        rendered = list(scene.frames())
        with StreamRedactor(detectors, policy, spec.fps) as stream:
            out = []
            for frame, _ in rendered:
                out += stream.push(frame.copy())
            out += stream.flush()
        for (_, truth), done in zip(rendered, out, strict=True):
            score.add_frame(spec.width, spec.height, truth, [r.box for r in done.regions])
            count += 1
    print_score(f"VIDEO: {clips} clips, {count} frames 1280x720, pipeline defaults "
                f"(detect every {policy.detect_every}, plates every {policy.plates_every} "
                f"keyframes, persist {policy.persist_seconds}s)", score)


def real_plate(detectors: Detectors, policy: RedactionPolicy) -> None:
    if not REAL_PLATE.exists():
        print(f"\nREAL IMAGE: {REAL_PLATE} not found (apt-get install -y opencv-doc)")
        return
    image = read_image(REAL_PLATE)
    done = redact_image(image.copy(), detectors, policy.model_copy(update={"faces": False}))
    mask = np.zeros(image.shape[:2], bool)
    for region in done.regions:
        mask[region.box.pixel_slice(image.shape[1], image.shape[0])] = True
    covered = mask[REAL_PLATE_BOX.pixel_slice(image.shape[1], image.shape[0])].mean()
    print(f"\nREAL IMAGE: licenseplate_motion.jpg plate covered {covered:.0%} "
          f"({len(done.regions)} regions hidden, {mask.mean():.0%} of the image)")


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--clips", type=int, default=4)
    args = parser.parse_args()
    policy = RedactionPolicy()
    detectors = Detectors(policy, args.model_dir)
    stills(detectors, policy, args.frames)
    video(detectors, policy, args.clips)
    real_plate(detectors, policy)


if __name__ == "__main__":
    main()
