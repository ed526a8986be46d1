"""The one check that a warrant is registered in the city's audit log, made by the coordinator
before it dispatches and by every node before it searches.

The log's public entry carries only a salted commitment to the warrant's digest; whoever holds
the salt (the coordinator keeps it, a query carries it to the node) can show that the entry
commits to exactly this signed text and not another.
"""

from __future__ import annotations

from audit.records import Action, PublicRecord, opens
from contract.warrants import Refusal, SignedWarrant, WarrantRefused, digest
from kernel.canonical import canonical_json


def check_registered(record: PublicRecord | None, salt: bytes, signed: SignedWarrant) -> None:
    """Raise ``WarrantRefused(NOT_IN_LOG)`` unless ``record`` registers exactly ``signed``."""
    warrant_id = signed.warrant.warrant_id
    if (record is None or record.action is not Action.WARRANT_REGISTERED
            or (record.warrant_id or record.consent_id) != warrant_id):
        raise WarrantRefused(Refusal.NOT_IN_LOG,
                             f"the audit log has no entry registering warrant {warrant_id}")
    if not opens(record, "warrant_sha256", salt, canonical_json(digest(signed))):
        raise WarrantRefused(Refusal.NOT_IN_LOG,
                             f"the logged entry commits to a different text of {warrant_id}")
