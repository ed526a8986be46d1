"""What the handlers of the node's inbox read: its settings, keys, pins, query ledger, plate
sightings, log head, audit log and clock. The pins are reloaded when a pin update (applied by
this or another process of the node) rewrote the enrolment, so every message is checked against
the keys pinned now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from audit.log import AuditLog
from audit.records import Actor
from nodes.config import NodeSettings
from nodes.enrolment import Enrolment, enrolment_file, load_enrolment, save_enrolment
from nodes.identity import NodeIdentity
from nodes.query_ledger import QueryLedger
from nodes.sightings import SightingStore
from nodes.witnessed_log import LogHead

Clock = Callable[[], datetime]


def now() -> datetime:
    return datetime.now(UTC)


class InboxState:
    def __init__(self, settings: NodeSettings, enrolment: Enrolment, identity: NodeIdentity,
                 audit: AuditLog, clock: Clock = now):
        self.settings = settings
        self.enrolment = enrolment
        self.identity = identity
        self.audit = audit
        self.clock = clock
        self.ledger = QueryLedger(settings.stores.query_ledger)
        self.sightings = SightingStore(settings.stores.sightings, identity.plate_key)
        self.actor = Actor(pseudonym=enrolment.node_id, role="node", agency=enrolment.site_id)
        self.log_head = LogHead(settings.data_dir, enrolment.log().name)
        self._pins_stamp = self._enrolment_stamp()

    def _enrolment_stamp(self) -> tuple[int, int]:
        stat = enrolment_file(self.settings.data_dir).stat()
        return stat.st_mtime_ns, stat.st_size

    def refresh(self) -> bool:
        """Reload the enrolment if another process rewrote it; whether it did."""
        stamp = self._enrolment_stamp()
        if stamp == self._pins_stamp:
            return False
        self.enrolment, self._pins_stamp = load_enrolment(self.settings.data_dir), stamp
        return True

    def save_pins(self, updated: Enrolment) -> None:
        """Store an enrolment with updated pins and hold it from now on."""
        save_enrolment(self.settings.data_dir, updated)
        self.enrolment, self._pins_stamp = updated, self._enrolment_stamp()

    def close(self) -> None:
        self.sightings.close()
        self.ledger.close()
        self.audit.close()
