"""Hand-labelled ground truth on real images (``tests/data/real/labels.json``, described in
``tests/data/real/SOURCE.md``): the only basis for accuracy claims on real footage.

Pure logic: parsing and checking the labels file. Getting the pixels of a labelled image
(a Debian file, a member of a hash-pinned wheel) is :mod:`simulation.real_images`.

Boxes are ``x1, y1, x2, y2`` in pixels of the full image, x2/y2 exclusive, in the COCO sense of
an object's whole extent (Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014);
a partly hidden person's box is the whole body, the hidden part estimated, flagged ``occluded``,
as in the MOT benchmarks (Milan et al., "MOT16: A Benchmark for Multi-Object Tracking", 2016).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import ConfigError

LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "real" / "labels.json"

VEHICLES = frozenset({"car", "bus", "truck", "motorbike", "bicycle"})
CLASSES = frozenset({"person", "face", "plate"}) | VEHICLES
FLAGS = frozenset({"occluded", "edge", "back_of_head", "illegible", "parked", "van",
                   "motion_blur"})
SOURCE_KINDS = frozenset({"debian", "wheel", "python-package"})


class LabelsError(ConfigError):
    """The labels file is malformed: a box outside its image, an unknown class or source."""


@dataclass(frozen=True)
class LabelledObject:
    cls: str
    box: tuple[int, int, int, int]
    flags: frozenset[str]

    @property
    def vehicle(self) -> bool:
        return self.cls in VEHICLES


@dataclass(frozen=True)
class Source:
    """Where a labelled image's pixels come from, pinned by the SHA-256 of the file itself."""

    name: str
    kind: str
    sha256: str
    licence: str
    package: str | None = None  # debian or python-package: the package that installs it
    path: str | None = None  # debian: the installed file
    requirement: str | None = None  # wheel: ``name==version``
    wheel: str | None = None
    wheel_sha256: str | None = None
    member: str | None = None  # wheel or python-package: the file inside it
    module: str | None = None  # python-package: the importable module holding ``member``


@dataclass(frozen=True)
class LabelledImage:
    id: str
    source: Source
    frame: int | None  # a video's frame index (0-based, decode order); None for a still
    width: int
    height: int
    objects: tuple[LabelledObject, ...]
    background: str | None  # set where the background holds people who are not labelled

    def of(self, *classes: str) -> list[LabelledObject]:
        return [o for o in self.objects if o.cls in classes]


@dataclass(frozen=True)
class RealLabels:
    labelled_by: str
    sources: dict[str, Source]
    images: tuple[LabelledImage, ...]

    def from_source(self, name: str) -> list[LabelledImage]:
        return [i for i in self.images if i.source.name == name]


def load(path: Path = LABELS) -> RealLabels:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LabelsError(f"{path}: not a readable labels file ({exc})") from None
    return parse(raw, str(path))


def parse(raw: object, where: str = "labels") -> RealLabels:
    """Check every image and object; the first fault raises :class:`LabelsError`."""
    if not isinstance(raw, dict) or raw.get("schema") != 1:
        raise LabelsError(f"{where}: expected an object with \"schema\": 1")
    sources = {name: _source(name, s, where) for name, s in _dict(raw, "sources", where).items()}
    images = []
    seen: set[str] = set()
    for item in _list(raw, "images", where):
        image = _image(item, sources, where)
        if image.id in seen:
            raise LabelsError(f"{where}: image id {image.id!r} appears twice")
        seen.add(image.id)
        images.append(image)
    return RealLabels(str(raw.get("labelled_by", "")), sources, tuple(images))


def _source(name: str, raw: object, where: str) -> Source:
    if not isinstance(raw, dict) or raw.get("kind") not in SOURCE_KINDS:
        raise LabelsError(f"{where}: source {name!r} needs a kind among {sorted(SOURCE_KINDS)}")
    needed = {"debian": ("package", "path"),
              "wheel": ("requirement", "wheel", "wheel_sha256", "member"),
              "python-package": ("module", "member")}[raw["kind"]]
    for key in ("sha256", "licence", *needed):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise LabelsError(f"{where}: source {name!r} lacks {key!r}")
    for key in ("sha256", "wheel_sha256"):
        digest = raw.get(key)
        if digest is not None and (len(digest) != 64 or not all(
                c in "0123456789abcdef" for c in digest)):
            raise LabelsError(f"{where}: source {name!r}: {key} is not a SHA-256 in hex")
    fields = ("package", "path", "requirement", "wheel", "wheel_sha256", "member", "module")
    return Source(name, raw["kind"], raw["sha256"], raw["licence"],
                  **{k: raw.get(k) for k in fields})


def _image(raw: object, sources: dict[str, Source], where: str) -> LabelledImage:
    if not isinstance(raw, dict):
        raise LabelsError(f"{where}: every image must be an object")
    ident = raw.get("id")
    at = f"{where}: image {ident!r}"
    if raw.get("source") not in sources:
        raise LabelsError(f"{at}: unknown source {raw.get('source')!r}")
    width, height, frame = raw.get("width"), raw.get("height"), raw.get("frame")
    if not isinstance(width, int) or not isinstance(height, int) or not _positive_int(width) \
            or not _positive_int(height):
        raise LabelsError(f"{at}: width and height must be positive integers")
    if frame is not None and (not isinstance(frame, int) or isinstance(frame, bool)
                              or frame < 0):
        raise LabelsError(f"{at}: frame must be a non-negative integer")
    objects = tuple(_object(o, width, height, at) for o in _list(raw, "objects", at))
    background = raw.get("background")
    return LabelledImage(str(ident), sources[raw["source"]], frame, width, height, objects,
                         background if isinstance(background, str) else None)


def _object(raw: object, width: int, height: int, at: str) -> LabelledObject:
    if not isinstance(raw, dict) or raw.get("class") not in CLASSES:
        cls = raw.get("class") if isinstance(raw, dict) else raw
        raise LabelsError(f"{at}: unknown class {cls!r} (known: {sorted(CLASSES)})")
    box = raw.get("box")
    if (not isinstance(box, list) or len(box) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)):
        raise LabelsError(f"{at}: a box is four integers x1, y1, x2, y2, not {box!r}")
    x1, y1, x2, y2 = box
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise LabelsError(f"{at}: box {box} is empty or outside the {width}x{height} image")
    flags = raw.get("flags", [])
    if not isinstance(flags, list) or not set(flags) <= FLAGS:
        raise LabelsError(f"{at}: unknown flags {flags!r} (known: {sorted(FLAGS)})")
    return LabelledObject(raw["class"], (x1, y1, x2, y2), frozenset(flags))


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _dict(raw: dict[str, object], key: str, where: str) -> dict[str, object]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise LabelsError(f"{where}: {key!r} must be an object")
    return value


def _list(raw: dict[str, object], key: str, where: str) -> list[object]:
    value = raw.get(key)
    if not isinstance(value, list):
        raise LabelsError(f"{where}: {key!r} must be a list")
    return value
