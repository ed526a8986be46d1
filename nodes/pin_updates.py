"""What a node checks before it changes the keys it pinned at enrolment (pure logic: the caller
saves the result and logs it).

An update counts only when it is the next one (``pins_sequence + 1``: a replay, a rollback or a
skipped update is refused), signed for exactly the set this node holds, by a quorum of the judge
and DPO keys this node already pins (``pin_quorum``, fixed at enrolment), and leaves a set that
can still sign warrants and the next update. Any failure refuses the whole update: the caller
gets a reason and the enrolment is unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from contract.pins import (
    ROLES,
    PinRefusal,
    PinRefused,
    SignedPinUpdate,
    applied,
    check_quorum,
    check_usable,
    pinned_sha256,
    same_digest,
)
from kernel.errors import describe
from nodes.enrolment import Enrolment


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
