"""A generated street scene with exact ground truth.

Real faces (the 100 face crops of scikit-image's ``lfw_subset``, LFW photographs) are pasted on
walking figures, and rendered licence plates on moving vehicles, over a procedural street with
varying lighting. Every frame comes with the boxes of every face and plate in it, so redaction
recall and false-blur area are measured, not guessed.
"""

from __future__ import annotations

import itertools
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata

from nodes.sources import Listener
from privacy.redaction.boxes import Box, Kind

AUDIO_RATE = 16000

PLATE_ASPECT = 4.6  # EU plates are 520 x 110 mm; rendered a little taller for legibility


@dataclass(frozen=True)
class GroundTruth:
    kind: Kind
    box: Box
    object_id: int
    visible: float = 1.0  # fraction of the box not hidden by nearer objects
    label: str | None = None  # a plate's characters, or a face's identity ("lfw-<index>")
    in_frame: float = 1.0  # fraction of the object inside the frame (less: cut by its edge)


@dataclass(frozen=True)
class SceneSpec:
    width: int = 1280
    height: int = 720
    fps: float = 25.0
    seconds: float = 4.0
    people: int = 6
    vehicles: int = 2
    face_sizes: tuple[int, int] = (32, 120)
    plate_widths: tuple[int, int] = (90, 200)
    seed: int = 0

    @property
    def frame_count(self) -> int:
        return round(self.seconds * self.fps)


@lru_cache(maxsize=1)
def face_crops() -> np.ndarray:
    """The 100 real face crops of ``lfw_subset`` as uint8 (100, 25, 25)."""
    return (skdata.lfw_subset()[:100] * 255).astype(np.uint8)


def non_face_crops() -> np.ndarray:
    """The 100 non-face crops of ``lfw_subset``, for false-positive checks."""
    return (skdata.lfw_subset()[100:] * 255).astype(np.uint8)


def face_sprite(index: int, size: int, tint: tuple[float, float, float],
                light: float) -> np.ndarray:
    """One LFW face, resized to ``size`` px, tinted to a skin tone and lit by ``light``."""
    gray = cv2.resize(face_crops()[index % 100], (size, size), interpolation=cv2.INTER_CUBIC)
    colour = gray[..., None].astype(np.float32) * np.asarray(tint, np.float32) * light
    return np.clip(colour, 0, 255).astype(np.uint8)


def plate_sprite(text: str, width: int, yellow: bool) -> np.ndarray:
    """A rendered plate: white or yellow ground, black characters, thin border."""
    height = max(12, round(width / PLATE_ASPECT))
    ground = (0, 200, 250) if yellow else (235, 235, 235)
    plate = np.full((height, width, 3), ground, np.uint8)
    cv2.rectangle(plate, (0, 0), (width - 1, height - 1), (30, 30, 30), max(1, height // 14))
    font = cv2.FONT_HERSHEY_DUPLEX
    scale = cv2.getFontScaleFromHeight(font, int(height * 0.62), 2)
    thickness = max(1, int(height / 10))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    scale *= min(1.0, (width * 0.9) / max(tw, 1))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    cv2.putText(plate, text, ((width - tw) // 2, (height + th) // 2), font, scale, (20, 20, 20),
                thickness, cv2.LINE_AA)
    return plate


def random_plate_text(rng: np.random.Generator) -> str:
    letters = string.ascii_uppercase
    pick = lambda alphabet, n: "".join(rng.choice(list(alphabet), n))  # noqa: E731
    return f"{pick(letters, 2)}{pick(string.digits, 2)} {pick(letters, 3)}"


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A random BGR colour, neither too dark nor too light (a car, a shirt)."""
    blue, green, red = (int(c) for c in rng.integers(20, 230, 3))
    return blue, green, red


def street_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Sky, a row of buildings with windows, pavement and road, with a random light level."""
    light = rng.uniform(0.45, 1.15)
    image = np.zeros((height, width, 3), np.float32)
    horizon = int(height * rng.uniform(0.3, 0.45))
    sky = np.linspace(1.0, 0.7, horizon)[:, None, None] * np.asarray(rng.uniform(150, 235, 3))
    image[:horizon] = sky
    x = 0
    while x < width:
        w = int(rng.integers(width // 10, width // 4))
        top = int(rng.integers(horizon // 5, horizon))
        colour = rng.uniform(60, 200, 3)
        image[top:horizon + height // 6, x:x + w] = colour
        for wy in range(top + 10, horizon + height // 6 - 20, 30):
            for wx in range(x + 8, x + w - 16, 26):
                image[wy:wy + 16, wx:wx + 12] = rng.uniform(30, 120, 3)
        x += w
    pavement = horizon + height // 6
    image[pavement:] = rng.uniform(110, 170)
    road = pavement + (height - pavement) // 3
    image[road:] = rng.uniform(55, 95)
    for lx in range(0, width, 120):
        image[road + (height - road) // 2 - 3:road + (height - road) // 2 + 3, lx:lx + 60] = 220
    noise = rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    return np.clip((image + noise) * light, 0, 255).astype(np.uint8)


@dataclass
class _Walker:
    face: np.ndarray
    start: tuple[float, float]
    velocity: tuple[float, float]
    shirt: tuple[int, int, int]
    object_id: int
    identity: str = ""

    def face_box(self, t: float) -> Box:
        size = self.face.shape[0]
        x = self.start[0] + self.velocity[0] * t
        y = self.start[1] + self.velocity[1] * t
        return Box(x, y, x + size, y + size)


@dataclass
class _Vehicle:
    plate: np.ndarray
    body: tuple[int, int, int]
    start: tuple[float, float]
    speed: float
    object_id: int
    text: str = ""

    @property
    def size(self) -> tuple[int, int]:
        pw = self.plate.shape[1]
        return int(pw * 3.2), int(pw * 1.6)

    def body_box(self, t: float) -> Box:
        w, h = self.size
        x = self.start[0] + self.speed * t
        return Box(x, self.start[1], x + w, self.start[1] + h)

    def plate_box(self, t: float) -> Box:
        body = self.body_box(t)
        ph, pw = self.plate.shape[:2]
        x = body.x1 + (body.width - pw) / 2
        y = body.y1 + body.height * 0.62
        return Box(x, y, x + pw, y + ph)


@dataclass
class Scene:
    """A scripted scene; ``frames()`` renders it and yields ``(frame, ground_truth)``."""

    spec: SceneSpec
    background: np.ndarray = field(init=False)
    walkers: list[_Walker] = field(init=False)
    vehicles: list[_Vehicle] = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.spec.seed)
        s = self.spec
        self.background = street_background(s.width, s.height, rng)
        duration = max(s.seconds, 1.0)
        taken: list[Box] = []  # what is already placed at t=0: spread objects out
        self.vehicles = []
        for j in range(s.vehicles):
            pw = int(rng.integers(s.plate_widths[0], s.plate_widths[1] + 1))
            text = random_plate_text(rng)
            plate = plate_sprite(text, pw, bool(rng.random() < 0.4))
            vehicle = _Vehicle(plate, _colour(rng), (0.0, 0.0),
                               0.0, 1000 + j, text)
            w, h = vehicle.size

            def place_vehicle(w: int = w, h: int = h) -> Proposal:
                y = rng.uniform(s.height * 0.45, max(s.height * 0.45 + 1, s.height - h - 2))
                x = rng.uniform(0, max(1.0, s.width - w))
                return (x, y), [Box(x, y, x + w, y + h)]

            vehicle.start, boxes = _spread(place_vehicle, taken)
            taken += boxes
            vehicle.speed = rng.uniform(-0.25, 0.25) * s.width / duration
            self.vehicles.append(vehicle)
        self.walkers = []
        for i in range(s.people):
            size = int(rng.integers(s.face_sizes[0], s.face_sizes[1] + 1))
            tint = (rng.uniform(0.75, 0.95), rng.uniform(0.85, 1.0), rng.uniform(1.0, 1.2))
            identity = int(rng.integers(100))
            face = face_sprite(identity, size, tint, rng.uniform(0.6, 1.25))
            shirt = _colour(rng)
            walker = _Walker(face, (0.0, 0.0), (0.0, 0.0), shirt, i, f"lfw-{identity}")
            # perspective: bigger faces nearer the camera, lower in the frame
            depth = (size - s.face_sizes[0]) / max(1, s.face_sizes[1] - s.face_sizes[0])

            def place_walker(size: int = size, depth: float = depth) -> Proposal:
                y = s.height * (0.22 + 0.5 * depth) + rng.uniform(-0.1, 0.1) * s.height
                y = float(np.clip(y, 0, s.height - size))
                x = rng.uniform(0, s.width - size)
                head = Box(x, y, x + size, y + size)
                return (x, y), [head, _torso(head)]

            walker.start, boxes = _spread(place_walker, taken)
            taken += boxes
            walker.velocity = (rng.uniform(-0.3, 0.3) * s.width / duration, rng.uniform(-8, 8))
            self.walkers.append(walker)

    def render(self, t: float) -> tuple[np.ndarray, list[GroundTruth]]:
        """Paint every object far to near (by the bottom of its body); occlusion is exact."""
        frame = self.background.copy()
        height, width = frame.shape[:2]
        layers: list[tuple[float, list[Box], GroundTruth | None, object]] = []
        for vehicle in self.vehicles:
            body = vehicle.body_box(t)
            plate = vehicle.plate_box(t)
            layers.append((body.y2, [body], None,
                           lambda f, v=vehicle, b=body: _draw_vehicle(f, v, b)))
            layers.append((body.y2 + 0.5, [plate],
                           GroundTruth("plate", plate, vehicle.object_id, label=vehicle.text),
                           vehicle.plate))
        for walker in self.walkers:
            head = walker.face_box(t)
            torso = _torso(head)
            layers.append((torso.y2, [torso], None,
                           lambda f, b=torso, c=walker.shirt:
                               f.__setitem__(b.pixel_slice(width, height), c)))
            layers.append((torso.y2 + 0.5, [head],
                           GroundTruth("face", head, walker.object_id, label=walker.identity),
                           walker.face))
        layers.sort(key=lambda layer: layer[0])
        truth: list[GroundTruth] = []
        for index, (_, _, gt, paint) in enumerate(layers):
            if gt is None:
                paint(frame)  # type: ignore[operator]  # no truth: a painter, not a sprite
                continue
            visible = _paste(frame, paint, gt.box)  # type: ignore[arg-type]  # a sprite
            if visible is None:
                continue
            covering = [box for later in layers[index + 1:] for box in later[1]]
            fraction = _visible_fraction(visible, covering)
            truth.append(GroundTruth(gt.kind, visible, gt.object_id, fraction, gt.label,
                                     visible.area / gt.box.area))
        return frame, truth

    def frames(self) -> Iterator[tuple[np.ndarray, list[GroundTruth]]]:
        for index in range(self.spec.frame_count):
            yield self.render(index / self.spec.fps)


def _torso(head: Box) -> Box:
    size = head.width
    return Box(head.x1 - size * 0.35, head.y2, head.x2 + size * 0.35, head.y2 + size * 3.2)


Proposal = tuple[tuple[float, float], list[Box]]


def _spread(propose: Callable[[], Proposal], taken: list[Box], tries: int = 40) -> Proposal:
    """Draw positions until one overlaps nothing in ``taken`` (else keep the least overlap)."""
    best: tuple[float, Proposal] | None = None
    for _ in range(tries):
        start, boxes = propose()
        overlap = sum(_overlap(a, b) for a in boxes for b in taken)
        if best is None or overlap < best[0]:
            best = (overlap, (start, boxes))
        if overlap == 0:
            break
    assert best is not None
    return best[1]


def _overlap(a: Box, b: Box) -> float:
    return max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1)) * max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))


def _draw_vehicle(frame: np.ndarray, vehicle: _Vehicle, body: Box) -> None:
    """A car seen from behind, as a street camera sees most cars: tyres, a body with a bumper
    and tail lights, a narrower cabin with its rear window, a shadow. Drawn so that an object
    detector trained on photographs (COCO) takes it for a car, as it would a real one."""
    x, y, w, h = body.x1, body.y1, body.width, body.height

    def at(fx: float, fy: float) -> tuple[int, int]:
        return round(x + fx * w), round(y + fy * h)

    cv2.ellipse(frame, at(0.5, 1.0), (round(0.55 * w), max(1, round(0.06 * h))), 0, 0, 360,
                (25, 25, 25), -1)
    for left in (0.04, 0.82):
        cv2.rectangle(frame, at(left, 0.78), at(left + 0.14, 1.0), (20, 20, 20), -1)
    cabin = np.array([at(0.16, 0.45), at(0.26, 0.05), at(0.74, 0.05), at(0.84, 0.45)])
    cv2.fillPoly(frame, [cabin], vehicle.body)
    glass = np.array([at(0.21, 0.44), at(0.29, 0.10), at(0.71, 0.10), at(0.79, 0.44)])
    cv2.fillPoly(frame, [glass], (60, 50, 45))
    cv2.rectangle(frame, at(0.0, 0.45), at(1.0, 0.85), vehicle.body, -1)
    cv2.rectangle(frame, at(0.0, 0.72), at(1.0, 0.85), (40, 40, 40), -1)  # bumper
    for left in (0.03, 0.81):
        cv2.rectangle(frame, at(left, 0.51), at(left + 0.16, 0.61), (30, 30, 200), -1)


def _paste(frame: np.ndarray, sprite: np.ndarray, box: Box) -> Box | None:
    """Paste ``sprite`` with its top-left at the box's, clipped; return the part inside the
    frame (None if none is). Whatever is painted is in the ground truth: half a face at the
    frame's edge identifies a person as well as a whole one."""
    height, width = frame.shape[:2]
    x, y = round(box.x1), round(box.y1)
    sh, sw = sprite.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + sw, width), min(y + sh, height)
    if x2 <= x1 or y2 <= y1:
        return None
    frame[y1:y2, x1:x2] = sprite[y1 - y:y2 - y, x1 - x:x2 - x]
    return Box(float(x1), float(y1), float(x2), float(y2))


def _visible_fraction(box: Box, covering: list[Box]) -> float:
    """Fraction of ``box`` not hidden by any of the ``covering`` boxes painted after it."""
    w, h = int(np.ceil(box.width)), int(np.ceil(box.height))
    if w <= 0 or h <= 0:
        return 0.0
    mask = np.ones((h, w), bool)
    for other in covering:
        local = other.shifted(-box.x1, -box.y1)
        mask[local.pixel_slice(w, h)] = False
    return float(mask.mean())


def street_audio(seconds: float, seed: int, rate: int = AUDIO_RATE) -> np.ndarray:
    """Traffic hum with a horn now and then: mono float32 samples."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    hum = 0.05 * np.sin(2 * np.pi * 90 * t) + 0.02 * rng.standard_normal(t.size)
    horn = 0.2 * np.sin(2 * np.pi * 415 * t) * ((t % 2.0) < 0.3)
    return (hum + horn).astype(np.float32)


def write_scene_video(path: Path, spec: SceneSpec, audio: bool = True,
                      preset: str = "ultrafast") -> list[list[GroundTruth]]:
    """Render ``spec`` to a video file (H.264, AAC) and return each frame's ground truth."""
    from nodes.media import VideoWriter

    writer = VideoWriter(path, spec.width, spec.height, spec.fps, preset=preset,
                         audio_rate=AUDIO_RATE if audio else None)
    truth = []
    try:
        for frame, gt in Scene(spec).frames():
            writer.write(frame)
            truth.append(gt)
        if audio:
            samples = street_audio(spec.seconds, spec.seed)
            for start in range(0, samples.size, 1024):
                writer.write_samples(samples[start:start + 1024], AUDIO_RATE)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return truth


class SyntheticSource:
    """A generated scene as a camera: ``synthetic:seed=3,seconds=5,width=1280,height=720``.
    With ``live=1`` it is a camera that never stops: frames come at the scene's frame rate on
    the wall clock, as from the network, and every ``seconds`` a new scene begins (the next
    seed: new people and vehicles); otherwise one scene, as fast as it is taken."""

    has_sound = False

    def __init__(self, spec: SceneSpec, live: bool = False):
        self.spec, self.live = spec, live
        self.name = f"synthetic:seed={spec.seed}"
        self.fps = spec.fps
        self.truth: list[list[GroundTruth]] = []
        self.reconnects = self.dropped_frames = 0  # generated: never unreachable
        self.listener: Listener | None = None

    @classmethod
    def from_uri(cls, uri: str, max_seconds: float | None = None) -> SyntheticSource:
        from kernel.errors import ConfigError

        fields = {f.name: f.type for f in SceneSpec.__dataclass_fields__.values()}
        values: dict[str, float] = {}  # int or float, as each field is
        body = uri.removeprefix("synthetic:")
        live = False
        for item in filter(None, body.split(",")):
            key, _, value = item.partition("=")
            if key == "live":
                if value not in ("0", "1"):
                    raise ConfigError(f"{uri}: live must be 0 or 1, got {value!r}")
                live = value == "1"
                continue
            if key not in fields or key in ("face_sizes", "plate_widths"):
                raise ConfigError(f"{uri}: unknown synthetic scene option {key!r}")
            try:
                values[key] = float(value) if key in ("fps", "seconds") else int(value)
            except ValueError:
                raise ConfigError(f"{uri}: {key} must be a number, got {value!r}") from None
        if max_seconds is not None:
            values["seconds"] = min(float(values.get("seconds", SceneSpec.seconds)), max_seconds)
        return cls(SceneSpec(**values), live)  # type: ignore[arg-type]  # ints where int fields

    def frames(self) -> Iterator[np.ndarray]:
        if not self.live:
            for frame, truth in Scene(self.spec).frames():
                self.truth.append(truth)
                yield frame
            return
        start, index = time.monotonic(), 0
        for scene in itertools.count():
            for frame, _ in Scene(replace(self.spec, seed=self.spec.seed + scene)).frames():
                time.sleep(max(0.0, start + index / self.fps - time.monotonic()))
                index += 1
                yield frame

    def close(self) -> None:
        pass
