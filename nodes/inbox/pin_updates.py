"""Pin updates: what a node checks before it changes the keys it pinned at enrolment, and the
handler that logs the outcome, saves the new pins and acknowledges what it holds.

An update counts only when it is the next one (``pins_sequence + 1``: a replay, a rollback or a
skipped update is refused), signed for exactly the set this node holds, by a quorum of the judge
and DPO keys this node already pins (``pin_quorum``, fixed at enrolment), and leaves a set that
can still sign warrants and the next update. Any failure refuses the whole update: the caller
gets a reason and the enrolment is unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from audit.records import Action, Event, LegalBasis
from contract.pins import (
    ROLES,
    PinAck,
    PinRefusal,
    PinRefused,
    SignedPinAck,
    SignedPinUpdate,
    applied,
    check_quorum,
    check_usable,
    pinned_sha256,
    same_digest,
)
from kernel.errors import describe
from nodes.enrolment import Enrolment
from nodes.inbox.state import InboxState

log = logging.getLogger(__name__)


def parse_update(message: Any) -> SignedPinUpdate:
    try:
        return SignedPinUpdate.model_validate(message)
    except ValidationError as exc:
        raise PinRefused(PinRefusal.BAD_MESSAGE,
                         f"not a pin update: {describe(exc)}") from None


def apply_update(enrolment: Enrolment, signed: SignedPinUpdate) -> Enrolment:
    """The enrolment after ``signed``; raise PinRefused, changing nothing, unless it is valid."""
    update = signed.update
    if update.sequence <= enrolment.pins_sequence:
        raise PinRefused(PinRefusal.REPLAYED, f"update {update.sequence} is not after "
                         f"{enrolment.pins_sequence}, the last one applied")
    if update.sequence != enrolment.pins_sequence + 1:
        raise PinRefused(PinRefusal.OUT_OF_ORDER, f"update {update.sequence} follows one this "
                         f"node has not applied (its last is {enrolment.pins_sequence})")
    pinned = enrolment.pinned()
    if not same_digest(update.previous_sha256, pinned_sha256(pinned)):
        raise PinRefused(PinRefusal.WRONG_BASE, "the update was signed for another pinned set "
                         "than this node's")
    check_quorum(signed, pinned, enrolment.pin_quorum)
    fields = type(enrolment).model_fields
    lacking = sorted(c.role for c in update.changes if ROLES[c.role] not in fields)
    if lacking:
        raise PinRefused(PinRefusal.UNUSABLE, f"this node pins no {lacking[0]} keys")
    after = applied(pinned, update)
    check_usable(after, enrolment.pin_quorum)
    changed = {ROLES[role]: tuple(after.get(role, ())) for role in ROLES
               if ROLES[role] in fields}
    try:
        return Enrolment.model_validate(enrolment.model_dump(mode="json") | changed
                                        | {"pins_sequence": update.sequence})
    except ValidationError as exc:  # a key that is not a key of its role, for one
        raise PinRefused(PinRefusal.UNUSABLE, describe(exc)) from None


class PinUpdateInbox:
    def __init__(self, state: InboxState):
        self.state = state

    def answer(self, message: Any) -> dict[str, Any]:
        """Apply a pin update signed by a quorum of the pinned authorities, whole or not at
        all; log it first; answer with a signed acknowledgement of the pins held now."""
        state = self.state
        sequence = _update_sequence(message)
        try:
            signed = parse_update(message)
            updated = apply_update(state.enrolment, signed)
        except PinRefused as refusal:
            state.audit.append(Event(actor=state.actor, action=Action.CONFIG_CHANGE,
                                     legal_basis=LegalBasis.STATUTE, outcome="pins_refused",
                                     details={"sequence": sequence,
                                              "reason": refusal.reason.value,
                                              "detail": str(refusal)}))
            log.warning("refused pin update %s: %s", sequence, refusal)
            return self._ack(sequence, refusal)
        update = signed.update
        state.audit.append(Event(
            actor=state.actor, action=Action.CONFIG_CHANGE, legal_basis=LegalBasis.STATUTE,
            outcome="pins_updated",
            details={"sequence": update.sequence, "reason": update.reason,
                     "changes": [c.model_dump(mode="json") for c in update.changes],
                     "signers": sorted(s.key_id for s in signed.signatures),
                     "pinned_sha256": pinned_sha256(updated.pinned())}))
        state.save_pins(updated)
        return self._ack(sequence, None)

    def _ack(self, sequence: int, refusal: PinRefused | None) -> dict[str, Any]:
        """Signed with the node's identity key: what it holds now, applied or not."""
        enrolment = self.state.enrolment
        ack = PinAck(node_id=enrolment.node_id, update_sequence=sequence,
                     applied=refusal is None,
                     reason=refusal.reason.value if refusal else None,
                     detail=str(refusal) if refusal else None,
                     sequence=enrolment.pins_sequence,
                     pinned_sha256=pinned_sha256(enrolment.pinned()),
                     acknowledged_at=self.state.clock())
        return SignedPinAck(ack=ack, signature=ack.sign(self.state.identity.signing)
                            ).model_dump(mode="json")


def _update_sequence(message: Any) -> int:
    try:
        value = message["update"]["sequence"]
    except (TypeError, KeyError):
        return 0
    valid = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53
    return value if valid else 0
