"""Aggression and weapon rules: false alarms on real footage, recall on scripted sequences.

REAL: OpenCV's vtest.avi (768x576 CCTV of pedestrians, 79.5 s at 10 frames/s, Debian
opencv-doc), nothing aggressive and no weapon in it: the node's own runner (its person detector
and tracker) with an aggression rule and a weapon rule over the whole picture, on the installed
pose and object models. Every event is a false alarm; printed per hour, with the Poisson 95%
upper bound of the rate (one short clip seen, 0 alarms is not a rate of 0).

SCRIPTED: ``simulation.poses`` stick figures with human proportions, moved by scripted joint
angles: no pixels, no pose model, so these say what the score does with exact (and with scripted
noisy) keypoints, not how often it catches real fights. Recall per kind (punches, overhead swing,
shoving) and false alarms on ordinary movement (walking, side by side, jogging, passing close,
waving, phoning, talking), each scene at two sizes and four sampling phases of the pose rate,
with exact keypoints, scripted noise, and pose errors measured on vtest.avi's first half
(BlazePose lite on its people), at three thresholds.

    python bench/aggression.py [--seconds 79.5] [--detector motion|hog] [--no-real]
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import cv2
import harness
import numpy as np

from nodes.analytics.aggression import AggressionScorer, Person
from nodes.analytics.aggression_watch import BlazePose, load_threat_models
from nodes.analytics.config import Aggression, CameraAnalytics
from nodes.analytics.detection import make_detector
from nodes.analytics.runner import CameraAnalyticsRunner
from nodes.analytics.stitching import Stitcher
from nodes.analytics.tracker import ByteTracker
from nodes.events import EventStore
from privacy import model_registry
from privacy.errors import ModelError
from simulation import poses

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
PHASES = (0.0, 0.03, 0.06, 0.09)  # seconds the pose sampling is shifted by
THRESHOLDS = (0.3, 0.35, 0.4, 0.45)


def upper_95(count: int, hours: float) -> float:
    """The one-sided 95% upper bound of a Poisson rate, ``count`` seen in ``hours`` (exact
    for 0: -ln(0.05) = 3.0 events; otherwise Wilson-Hilferty's chi-square approximation)."""
    if count == 0:
        return 3.0 / hours
    k = count + 1
    return k * (1 - 1 / (9 * k) + 1.645 / (3 * math.sqrt(k))) ** 3 / hours


def real(seconds: float, detector: str, model_dir: Path) -> None:
    analytics = CameraAnalytics.model_validate({"detector": detector, "rules": [
        {"type": "aggression", "id": "fight"}, {"type": "weapon", "id": "armed"}]})
    try:
        models = load_threat_models([analytics], model_dir)
    except ModelError as exc:
        print(f"REAL vtest.avi: not measured: {exc}")
        return
    capture = cv2.VideoCapture(str(VTEST))
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore(Path(folder) / "events.sqlite")
        runner = CameraAnalyticsRunner("vtest", analytics, fps, datetime.now(UTC), store,
                                       Stitcher([]), b"k" * 32, threats=models)
        started, frames, people = time.perf_counter(), 0, 0
        while frames < seconds * fps:
            ok, frame = capture.read()
            if not ok:
                break
            people += sum(t.kind == "person" for t in runner.process(frames, frame))
            frames += 1
        runner.finish()
        elapsed = time.perf_counter() - started
        events = Counter(e.type for e in store.all())
        store.close()
    hours = frames / fps / 3600
    watcher = runner.threats
    assert watcher is not None
    print(f"REAL vtest.avi ({frames} frames, {frames / fps:.1f} s, detector {detector}, "
          f"{people / max(frames, 1):.1f} people tracked per frame; pose and object models "
          f"from {model_dir})")
    for kind in ("aggression", "weapon"):
        count = events.get(kind, 0)
        print(f"  {kind:10s} false alarms: {count} = {count / hours:.0f} per hour "
              f"(95% upper bound {upper_95(count, hours):.0f} per hour)")
    print(f"  highest aggression score: {watcher._scorers['fight'].peak:.2f} (the threshold: "
          f"{watcher.aggression[0].threshold})")
    print(f"  model runs: {watcher.poses} poses ({watcher.poses / max(frames, 1):.2f} per frame), "
          f"{watcher.looks} object looks; {frames / elapsed:.1f} frames/s in all on this machine")


def pose_noise(detector: str, model_dir: Path, seconds: float) -> np.ndarray | None:
    """BlazePose lite's errors on the people of vtest.avi's first ``seconds``: per pose, each
    landmark's distance from the mean of its neighbours in time (the track's poses one frame
    before and after), over sqrt(1.5) (what that leaves of white noise), in torso lengths;
    with the landmark's visibility. ``(poses, 33, 3)``."""
    try:
        pose = BlazePose(model_registry.model_path("blazepose-lite", model_dir))
    except ModelError:
        return None
    analytics = CameraAnalytics.model_validate({"detector": detector})
    detect, tracker = make_detector(analytics, 10.0), ByteTracker(max_age=10)
    capture = cv2.VideoCapture(str(VTEST))
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    seen: dict[int, list[tuple[int, np.ndarray]]] = {}
    for index in range(int(seconds * fps)):
        ok, frame = capture.read()
        if not ok:
            break
        for track in tracker.update(detect.detect(frame)):
            if track.kind == "person" and track.box[3] - track.box[1] >= 64:
                points = pose.estimate(frame, track.box)
                if points is not None:
                    seen.setdefault(track.track_id, []).append((index, points))
    errors = []
    for poses_ in seen.values():
        for (i0, a), (_, b), (i2, c) in zip(poses_, poses_[1:], poses_[2:], strict=False):
            torso = float(np.hypot(*((b[11, :2] + b[12, :2]) / 2 - (b[23, :2] + b[24, :2]) / 2)))
            if i2 - i0 == 2 and torso > 0:
                error = (b[:, :2] - (a[:, :2] + c[:, :2]) / 2) / math.sqrt(1.5) / torso
                errors.append(np.column_stack([error, b[:, 2]]))
    return np.array(errors) if errors else None


class RealNoise:
    """Errors measured on real poses (``pose_noise``), drawn one pose's worth at a time and
    added to a scripted pose in its own torso lengths, its visibilities taken with them."""

    def __init__(self, errors: np.ndarray):
        self.errors = errors

    def apply(self, points: np.ndarray, height: float, rng: np.random.Generator) -> np.ndarray:
        error = self.errors[rng.integers(len(self.errors))]
        noisy = points.copy()
        torso = float(np.hypot(*((points[11, :2] + points[12, :2]) / 2
                                 - (points[23, :2] + points[24, :2]) / 2)))
        noisy[:, :2] += error[:, :2] * torso
        noisy[:, 2] = error[:, 2]
        return noisy


def sampled(scene: poses.Scene, phase: float, rule: Aggression,
            noise: poses.Noise | RealNoise | None) -> list[tuple[int, ...]]:
    """The events ``scene`` raises under ``rule``, its poses sampled as the watcher samples
    them (``poses_per_second`` on average), the first one ``phase`` seconds in."""
    scorer = AggressionScorer(rule.threshold, rule.min_seconds, rule.window_seconds, rule.slow,
                              rule.fast, rule.together_seconds)
    period, due, fired = 1 / rule.poses_per_second, {}, []
    for index, people in enumerate(scene.frames(noise)):
        now = index / scene.fps
        posed = []
        for person in people:
            was = due.get(person.track_id, phase)
            if now >= was - 1e-9:
                due[person.track_id] = (was if now - was < period else now) + period
                posed.append(person)
            else:
                posed.append(Person(person.track_id, person.box))
        fired += [tracks for tracks, _ in scorer.update(now, posed)]
    return fired


def scripted(rule: Aggression, errors: np.ndarray | None) -> None:
    print("SCRIPTED keypoint sequences (stick figures; no pixels, no pose model: not evidence "
          "of recall on real fights)")
    noises: list[tuple[poses.Noise | RealNoise | None, str]] = [
        (None, "exact keypoints"),
        (poses.Noise(), "scripted pose noise (simulation.poses.Noise)")]
    if errors is not None:
        noises.append((RealNoise(errors), f"real pose errors ({len(errors)} BlazePose lite poses "
                       "of vtest.avi's first half, drawn at random)"))
    for noise, label in noises:
        print(f"  {label}:")
        for threshold in THRESHOLDS:
            caught: dict[str, list[int]] = {}
            alarms: dict[str, int] = {}
            runs = 0
            for scene in poses.scenes():
                kind = scene.name.split(" (")[0]
                for phase in PHASES:
                    events = sampled(scene, phase, rule.model_copy(
                        update={"threshold": threshold}), noise)
                    if scene.aggressive:
                        tally = caught.setdefault(kind, [0, 0])
                        tally[0] += bool(events)
                        tally[1] += 1
                    else:
                        runs += 1
                        if events:
                            alarms[kind] = alarms.get(kind, 0) + len(events)
            hits = sum(h for h, _ in caught.values())
            total = sum(n for _, n in caught.values())
            mark = " (default)" if threshold == rule.threshold else ""
            print(f"    threshold {threshold}{mark}: recall {hits}/{total} ({hits / total:.0%}: "
                  + ", ".join(f"{kind} {h}/{n}" for kind, (h, n) in caught.items())
                  + f"); false alarms {sum(alarms.values())} in {runs} ordinary runs"
                  + "".join(f", {kind} {count}" for kind, count in alarms.items()))


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--seconds", type=float, default=79.5)
    parser.add_argument("--detector", choices=("motion", "hog"), default="motion")
    parser.add_argument("--no-real", action="store_true", help="only the scripted sequences")
    args = parser.parse_args()
    errors = None
    if not args.no_real:
        real(args.seconds, args.detector, args.model_dir)
        errors = pose_noise(args.detector, args.model_dir, min(args.seconds, 79.5) / 2)
        if errors is not None:
            wrist = np.hypot(errors[:, 15:17, 0], errors[:, 15:17, 1]).ravel()
            print(f"  pose errors (first half): wrist off its smooth path by a median "
                  f"{np.median(wrist):.2f} torso lengths, 95th percentile "
                  f"{np.percentile(wrist, 95):.2f}, over {len(errors)} poses")
    scripted(Aggression(type="aggression", id="fight"), errors)


if __name__ == "__main__":
    main()
