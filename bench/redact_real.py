"""Redaction on real footage, scored on hand-labelled frames (tests/data/real/labels.json).

1. vtest.avi (OpenCV's 768x576 CCTV clip, 795 frames) through the stream pipeline with the
   default policy, as `safecity redact` runs it:
   - over-redaction on every frame: frames with more than 10% of the frame hidden, the largest
     share hidden, the largest single box, by kind;
   - coverage of the 16 labelled frames: labelled faces (a face hidden when >= 90% of its box
     is), faces seen from behind apart, the parked vehicles' 12x5 px plates.
2. Stills, each redacted on its own: plates (licenseplate_motion) and faces (bus, zidane,
   messi5, astronaut), with the share of the image hidden.

    python bench/redact_real.py [--model-dir DIR] [--frames N]
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import harness  # puts the repository on the import path
import numpy as np

from privacy.redaction.engine import Detectors, RedactedFrame, StreamRedactor, redact_image
from privacy.redaction.policy import RedactionPolicy
from simulation import real_images, real_labels
from simulation.detection_scores import coverage, hidden_mask

COVERED = 0.9  # as simulation.evaluation: a face or plate is hidden when 90% of its box is
OVER = 0.10  # a frame with more than this share hidden is over-redacted


@dataclass
class Coverage:
    """Labelled boxes of one class and how much of each was hidden."""

    shares: list[float] = field(default_factory=list)

    def add(self, share: float) -> None:
        self.shares.append(share)

    def line(self, name: str) -> str:
        if not self.shares:
            return f"{name:28} none labelled"
        shares = np.asarray(self.shares)
        return (f"{name:28} {int((shares >= COVERED).sum()):3d} of {shares.size:3d} hidden "
                f"({(shares >= COVERED).mean():6.1%}), >= half hidden "
                f"{(shares >= 0.5).mean():6.1%}, mean cover {shares.mean():5.1%}")


def score_image(image: real_labels.LabelledImage, mask: np.ndarray,
                scores: dict[str, Coverage]) -> None:
    for item in image.objects:
        if item.cls == "face":
            key = "faces seen from behind" if "back_of_head" in item.flags else "faces"
        elif item.cls == "plate":
            key = "plates"
        else:
            continue
        scores.setdefault(key, Coverage()).add(coverage(item.box, mask))


def vtest(detectors: Detectors, policy: RedactionPolicy, limit: int | None) -> None:
    labels = real_labels.load()
    labelled = {image.frame: image for image in labels.from_source("vtest")}
    source = next(iter(labelled.values())).source
    scores: dict[str, Coverage] = {}
    shares: list[float] = []
    largest: dict[str, tuple[float, int, tuple[int, ...]]] = {}
    kinds: Counter[str] = Counter()

    def take(done: RedactedFrame) -> None:
        height, width = done.image.shape[:2]
        mask = hidden_mask(width, height, [r.box for r in done.regions])
        shares.append(float(mask.mean()))
        for region in done.regions:
            kinds[region.kind] += 1
            area = region.box.area / (width * height)
            if area > largest.get(region.kind, (0.0,))[0]:
                largest[region.kind] = (area, done.index, tuple(round(v) for v in region.box))
        image = labelled.get(done.index)
        if image is not None:
            score_image(image, mask, scores)

    started = time.perf_counter()
    with StreamRedactor(detectors, policy, fps=10.0) as stream:
        for index, frame in real_images.frames(source):
            if limit is not None and index >= limit:
                break
            for done in stream.push(frame):
                take(done)
        for done in stream.flush():
            take(done)
    elapsed = time.perf_counter() - started
    share = np.asarray(shares)
    print(f"\nVTEST: {share.size} frames 768x576 through the stream pipeline "
          f"({share.size / elapsed:.1f} frames/s)")
    print(f"frames with > {OVER:.0%} hidden: {int((share > OVER).sum())} of {share.size}; "
          f"largest share hidden {share.max():.1%}; mean {share.mean():.2%}")
    for kind, (area, index, box) in sorted(largest.items()):
        w, h = box[2] - box[0], box[3] - box[1]
        print(f"largest {kind:10} box {w}x{h} px ({area:.1%} of the frame, frame {index}); "
              f"{kinds[kind]} {kind} regions in all")
    print(f"coverage on the {len(labelled)} labelled frames:")
    for name in ("faces", "faces seen from behind", "plates"):
        print("  " + scores.get(name, Coverage()).line(name))


def stills(detectors: Detectors, policy: RedactionPolicy) -> None:
    labels = real_labels.load()
    print("\nSTILLS (each redacted on its own):")
    for image in labels.images:
        if image.frame is not None:
            continue
        try:
            pixels = real_images.still(image)
        except real_images.ImageSourceError as exc:
            print(f"  {image.id:20} skipped: {exc}")
            continue
        done = redact_image(pixels.copy(), detectors, policy)
        mask = hidden_mask(image.width, image.height, [r.box for r in done.regions])
        parts = []
        for cls in ("face", "plate"):
            items = image.of(cls)
            if items:
                hidden = sum(coverage(o.box, mask) >= COVERED for o in items)
                mean = np.mean([coverage(o.box, mask) for o in items])
                parts.append(f"{cls}s {hidden} of {len(items)} hidden (mean cover {mean:.0%})")
        kinds = Counter(r.kind for r in done.regions)
        print(f"  {image.id:20} {image.width}x{image.height}: {', '.join(parts)}; "
              f"{mask.mean():.1%} of the image hidden; regions {dict(kinds)}")


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--frames", type=int, default=None, help="only the first N of vtest")
    args = parser.parse_args()
    policy = RedactionPolicy()
    detectors = Detectors(policy, args.model_dir)
    stills(detectors, policy)
    vtest(detectors, policy, args.frames)


if __name__ == "__main__":
    main()
