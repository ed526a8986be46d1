"""Writing a file so that readers see either the old content or the whole new one.

The data goes to a temporary file in the target's folder (created mode 0600), is flushed and
fsynced, then renamed over the target. A crash leaves at most a hidden ``.partial`` file, never a
truncated file under the final name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kernel.errors import SafecityError


def temporary_sibling(path: Path) -> Path:
    """A new, empty, private file next to ``path`` (same file system, so rename is atomic)."""
    if not path.parent.is_dir():
        raise SafecityError(f"{path}: output folder {path.parent} does not exist")
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".partial")
    os.close(fd)
    return Path(name)


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    payload = data.encode() if isinstance(data, str) else data
    tmp = temporary_sibling(path)
    try:
        with tmp.open("wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SafecityError(f"{path}: cannot write ({exc.strerror})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
