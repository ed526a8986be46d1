"""Structured logs for the long-running processes: one JSON object per line on stderr, with the
process, the request id and the query id the line belongs to. What goes into a message is the
caller's duty (ids, counts, codes; never a plate, a name, a key or a token); as a last guard,
anything shaped like a bearer token or a URL's password is masked before it is written."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
QUERY_ID: ContextVar[str | None] = ContextVar("query_id", default=None)

_MASKS = (
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "<token>"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/-]+=*"), r"\1<token>"),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1<password>@"),
)


def masked(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str):
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                 "level": record.levelname.lower(), "process": self.process,
                 "logger": record.name, "message": masked(record.getMessage())}
        for name, variable in (("request_id", REQUEST_ID), ("query_id", QUERY_ID)):
            value = variable.get()
            if value:
                entry[name] = value
        if record.exc_info:
            entry["error"] = masked(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return masked(super().format(record))


def configure(process: str, level: str = "INFO",
              style: Literal["json", "text"] = "json") -> None:
    """Send every log record of this process to stderr in ``style``; replaces other handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process) if style == "json" else MaskingFormatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "flwr"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
