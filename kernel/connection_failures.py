"""What a failed connection to a database or a broker means, in one line naming the setting that
fixes it.

The drivers say it deep in an exception chain: SQLAlchemy wraps psycopg's ``OperationalError``
(``.orig``) whose text carries the server's ``FATAL:`` line; kombu wraps redis-py's
``AuthenticationError`` (``__cause__``) in its own ``OperationalError``; py-amqp raises
``AccessRefused`` (AMQP reply code 403). Only the class names and the servers' documented
messages are matched, so the kernel imports none of these drivers. Sources: PostgreSQL's
client authentication messages (postgresql.org/docs/current/client-authentication-problems.html),
Redis ``AUTH`` errors (redis.io/docs/latest/commands/auth), AMQP 0-9-1 ``access-refused``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_AUTH_CLASSES = {"AuthenticationError", "AccessRefused", "AuthenticationWrongNumberOfArgsError"}
_AUTH_TEXT = ("password authentication failed", "invalid username-password pair",
              "authentication required", "noauth", "wrongpass", "access_refused",
              "login was refused", "no password supplied")
_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')
_REFUSED_AT = re.compile(r'(?:server at "?([^",]+)"?[^,]*, port (\d+))'  # libpq
                         r"|(?:connecting to ([\w.:-]+))")  # redis-py


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        original = getattr(link, "orig", None)  # SQLAlchemy's DBAPIError keeps the driver's
        link = (original if isinstance(original, BaseException)
                else link.__cause__ or link.__context__)


def _reason(text: str) -> str:
    """The server's own words: after the last ``FATAL:``, on one line."""
    text = text.rsplit("FATAL:", 1)[-1]
    return " ".join(text.split())


def explain(exc: BaseException, setting: str) -> str | None:
    """One line saying what failed and how to fix it in ``setting``; None when not a failure to
    connect that is recognised (the caller then says what it can)."""
    for link in _chain(exc):
        text = str(link)
        lowered = text.lower()
        if type(link).__name__ in _AUTH_CLASSES or any(t in lowered for t in _AUTH_TEXT):
            return (f"authentication failed ({_reason(text) or type(link).__name__}): fix the "
                    f"user name or password in {setting}")
        missing = _MISSING_DATABASE.search(text)
        if missing:
            return (f'database "{missing[1]}" does not exist: create it (`createdb '
                    f'{missing[1]}` as PostgreSQL\'s superuser) or fix the database name in '
                    f"{setting}")
        if isinstance(link, ConnectionRefusedError) or "connection refused" in lowered:
            where = _REFUSED_AT.search(text)
            at = (f" at {where[1]}:{where[2]}" if where and where[1]
                  else f" at {where[3]}" if where else "")
            return (f"connection refused{at}: is the server running there? check the host and "
                    f"port in {setting}")
    return None


def unavailable(exc: BaseException, setting: str) -> str:
    """A readiness check's failure: why, with the setting that fixes it when the failure says
    so (``unavailable: authentication failed (...): fix ... in broker_url``)."""
    why = explain(exc, setting)
    return f"unavailable: {why}" if why else f"unavailable ({type(exc).__name__})"
