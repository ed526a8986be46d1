"""Over-redaction and face recall of the default redaction on real footage, narrowly.

The part of bench/detection_accuracy.py that issue 22's gate rests on, without the detector
tallies: ``safecity redact``'s stream on OpenCV's real vtest.avi (frames with more than 10% of
their area hidden, the largest frame share, the largest hidden box, the mean share hidden) and
the share of hand-labelled visible faces covered >= 90%, each labelled image redacted alone as
tests/unit/test_real_redaction.py does, per split (dev: vtest and the dev photos; held-out: the
held-out photos, reported, never tuned on).

The detectors' raw outputs are cached by frame content (``--cache``), so policy variants that
change only what is made of them (heads, tracks) are compared on the same detections quickly.

    python bench/redaction_gate.py [--set head_from_width=true] [--cache /tmp/gate.pkl]
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import harness  # puts the repository on the import path
import numpy as np

from privacy.redaction.engine import Detectors, StreamRedactor, redact_image
from privacy.redaction.policy import RedactionPolicy
from simulation.detection_scores import coverage, hidden_mask
from simulation.real_images import ImageSourceError, frames, still
from simulation.real_labels import LabelledImage, load

COVERED = 0.9
OVER = 0.10


class Cached:
    """A detector whose ``detect`` answers from a cache keyed by the frame's content."""

    def __init__(self, name: str, inner: Any, cache: dict[str, Any]):
        self._name, self._inner, self._cache = name, inner, cache

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)

    def detect(self, frame: np.ndarray) -> Any:
        digest = hashlib.sha1(np.ascontiguousarray(frame).data).hexdigest()
        key = f"{self._name}:{frame.shape}:{digest}"
        if key not in self._cache:
            self._cache[key] = self._inner.detect(frame)
        return self._cache[key]


def face_shares(image: LabelledImage, pixels: np.ndarray, detectors: Detectors,
                policy: RedactionPolicy) -> list[float]:
    done = redact_image(pixels.copy(), detectors, policy)
    mask = hidden_mask(image.width, image.height, [r.box for r in done.regions])
    return [coverage(tuple(map(float, o.box)), mask)  # type: ignore[arg-type]
            for o in image.of("face") if "back_of_head" not in o.flags]


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--set", action="append", default=[],
                        help="policy field=JSON value, e.g. head_from_width=true")
    parser.add_argument("--cache", type=Path, default=None,
                        help="pickle of the detectors' outputs, read and written")
    args = parser.parse_args()
    policy = RedactionPolicy(**{k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)})
    cache: dict[str, Any] = {}
    if args.cache and args.cache.exists():
        cache = pickle.loads(args.cache.read_bytes())
    detectors = Detectors(policy, args.model_dir)
    for name in ("objects", "face", "plate"):
        if getattr(detectors, name) is not None:
            setattr(detectors, name, Cached(name, getattr(detectors, name), cache))
    labels = load()
    clip = {i.frame: i for i in labels.images if i.frame is not None}
    source = next(iter(clip.values())).source

    shares: list[float] = []
    streamed: list[float] = []  # labelled vtest faces, as the stream covers them
    largest = (0.0, -1, "", "")
    by_kind: dict[str, tuple[float, int, str]] = {}
    over = 0
    top = (0.0, -1)
    with StreamRedactor(detectors, policy, fps=10.0) as stream:
        def keep(done_list: list) -> None:  # type: ignore[type-arg]
            nonlocal over, largest, top
            for done in done_list:
                h, w = done.image.shape[:2]
                share = float(hidden_mask(w, h, [r.box for r in done.regions]).mean())
                shares.append(share)
                over += share > OVER
                top = max(top, (share, done.index))
                for r in done.regions:
                    box_share = r.box.area / (w * h)
                    size = f"{r.box.width:.0f}x{r.box.height:.0f}"
                    if box_share > largest[0]:
                        largest = (box_share, done.index, r.kind, size)
                    if box_share > by_kind.get(r.kind, (0.0,))[0]:
                        by_kind[r.kind] = (box_share, done.index, size)
                if done.index in clip:
                    mask = hidden_mask(w, h, [r.box for r in done.regions])
                    streamed.extend(coverage(tuple(map(float, o.box)), mask)  # type: ignore[arg-type]
                                    for o in clip[done.index].of("face")
                                    if "back_of_head" not in o.flags)
        for _, frame in frames(source):
            keep(stream.push(frame.copy()))
        keep(stream.flush())
    print(f"policy: {' '.join(args.set) or 'default'}")
    print(f"vtest.avi: {over}/{len(shares)} frames > {OVER:.0%} hidden; max frame "
          f"{top[0]:.2%} (frame {top[1]}); largest box {largest[0]:.2%} ({largest[2]} "
          f"{largest[3]}, frame {largest[1]}); mean hidden {np.mean(shares):.2%}")
    print("  largest per kind: " + "; ".join(f"{k} {v[0]:.2%} ({v[2]}, frame {v[1]})"
                                             for k, v in sorted(by_kind.items())))
    print(f"  labelled vtest faces covered >= {COVERED:.0%} through the stream: "
          f"{sum(s >= COVERED for s in streamed)}/{len(streamed)}")

    recall: dict[str, list[float]] = {"dev": [], "held-out": []}
    misses: list[str] = []
    pictures = [(image, pixels) for index, pixels in frames(source)
                if (image := clip.get(index)) is not None]
    for image in labels.images:
        if image.frame is None:
            try:
                pictures.append((image, still(image)))
            except ImageSourceError as exc:
                print(f"  skipped {image.id}: {exc}")
    for image, pixels in pictures:
        got = face_shares(image, pixels, detectors, policy)
        recall[image.split] += got
        misses += [f"{image.id}#{n} {s:.0%}" for n, s in enumerate(got) if s < COVERED]
    total = [s for v in recall.values() for s in v]
    for split, values in [*recall.items(), ("all", total)]:
        hit = sum(s >= COVERED for s in values)
        print(f"faces covered >= {COVERED:.0%} [{split}]: {hit}/{len(values)}")
    print(f"  missed: {', '.join(misses) or 'none'}")
    if args.cache:
        args.cache.write_bytes(pickle.dumps(cache))


if __name__ == "__main__":
    main()
