"""The coordinator's errors, all below :class:`kernel.errors.SafecityError`, and the problem
an API request is answered with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kernel.errors import SafecityError


class DispatchError(SafecityError):
    """The broker or result backend cannot be reached."""


class WitnessQuorumError(SafecityError):
    """Fewer witnesses than the quorum cosigned the newest checkpoint; the message says who
    answered what."""


class TargetRefused(SafecityError):
    """The target is not one the coordinator may send to; the message says why."""


class DeliveryFailed(SafecityError):
    """The receiver did not take the delivery (it is retried, after ``retry_in`` seconds when
    set: when the delivery's next attempt is due, ``coordinator.delivery_claims``)."""

    retry_in: int | None = None


class ReportRejected(SafecityError):
    """A message a node sent over the broker fails a check: not from an enrolled node's key,
    not about its own cameras, or not what it claims to be. The subclass names the message.
    ``node``: the enrolled node whose key verified the message's signature, None when no
    enrolled node's did (anyone on the broker could have sent it)."""

    def __init__(self, *args: object, node: str | None = None) -> None:
        super().__init__(*args)
        self.node = node


@contextmanager
def signed_by(node_id: str) -> Iterator[None]:
    """Checks run on a message whose signature verified under ``node_id``'s enrolled key:
    their refusals say so (the node is accountable for them)."""
    try:
        yield
    except ReportRejected as exc:
        exc.node = node_id
        raise


class EventsRejected(ReportRejected):
    """An event batch is refused."""


class ExportReportRejected(ReportRejected):
    """An evidence-export report is refused."""


class SnapshotRejected(ReportRejected):
    """A live-view snapshot is refused."""


class EvidenceRejected(ReportRejected):
    """An alert's evidence is refused."""


class ClipRejected(ReportRejected):
    """A frame of an evidence clip, or a node's refusal to send one, is refused."""


class EvidenceEarly(SafecityError):
    """Evidence came before its alert (they travel on separate queues): take it again later.
    ``node``: the enrolled node that signed it."""

    def __init__(self, *args: object, node: str) -> None:
        super().__init__(*args)
        self.node = node


class Problem(Exception):
    """The RFC 9457 problem a request is answered with (``coordinator.problems`` renders it).

    Not a SafecityError on purpose: it is an answer already decided (and, for a refusal,
    already logged), which no ``except SafecityError`` on its way out may swallow."""

    def __init__(self, status: int, title: str, detail: str, code: str | None = None,
                 headers: dict[str, str] | None = None,
                 extensions: dict[str, Any] | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.code = code
        self.headers = headers or {}
        self.extensions = extensions or {}  # further members of the body (RFC 9457 3.2)


def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"no {what}", "not_found")


def invalid(detail: str, code: str = "invalid") -> Problem:
    return Problem(422, "Invalid request", detail, code)
