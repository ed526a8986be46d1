"""A camera's user name and password: kept in a file of their own that only the node's user can
read (not in the node's configuration), put into a stream URL only when the stream is opened,
and never printed."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from kernel.errors import ConfigError

_FIELD = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


@dataclass(frozen=True)
class CameraCredentials:
    username: str
    password: str = field(repr=False)

    def scrub(self, text: str) -> str:
        """``text`` with the user name and password (plain and URL-quoted) replaced."""
        for secret in {self.password, quote(self.password, safe=""), self.username,
                       quote(self.username, safe="")}:
            if secret:
                text = text.replace(secret, "***")
        return text


def read_credentials(path: Path) -> CameraCredentials:
    """Credentials from a TOML file (``username = "..."``, ``password = "..."``) that nobody but
    its owner, the node's user, may read or write."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such credentials file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the credentials file "
                          f"({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    if info.st_mode & 0o077:
        raise ConfigError(f"{path}: other users may read or change it (mode "
                          f"{stat.S_IMODE(info.st_mode):04o}); chmod 600 it")
    if info.st_uid != os.getuid():
        raise ConfigError(f"{path}: belongs to another user; the node's own user must own it")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"{path}: not TOML (expected username = \"...\" and "
                          "password = \"...\")") from None
    if set(data) != {"username", "password"} or not all(
            isinstance(data[k], str) and _FIELD.match(data[k]) for k in data):
        raise ConfigError(f"{path}: expected exactly username and password, each 1 to 128 "
                          "printable characters")
    return CameraCredentials(data["username"], data["password"])


def write_credentials(path: Path, credentials: CameraCredentials) -> None:
    """Write a credentials file readable by its owner only (refuses to overwrite one)."""
    for name, value in (("username", credentials.username), ("password", credentials.password)):
        if not _FIELD.match(value):
            raise ConfigError(f"the {name} must be 1 to 128 printable characters")
    quoted = {k: v.replace("\\", "\\\\").replace('"', '\\"')
              for k, v in (("username", credentials.username),
                           ("password", credentials.password))}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: already exists; remove it first to replace it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f'username = "{quoted["username"]}"\npassword = "{quoted["password"]}"\n')
        out.flush()
        os.fsync(out.fileno())


def with_credentials(url: str, credentials: CameraCredentials | None) -> str:
    """``url`` with the credentials as its user information (URL-quoted)."""
    if credentials is None:
        return url
    parts = urlsplit(url)
    if parts.username is not None:
        raise ConfigError("the stream URL already carries credentials; keep them in the "
                          "credentials file only")
    userinfo = f"{quote(credentials.username, safe='')}:{quote(credentials.password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))
