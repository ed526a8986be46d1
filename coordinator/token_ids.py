"""Token ids (``jti``, RFC 7519 section 4.1.7) the coordinator will not accept again before
they expire: a person's token once they sign out (so a copied session cookie stops working
as a bearer token), and a node's assertion once redeemed (RFC 7523 section 3, item 7: the
server may keep the ids it has seen to refuse a replay).

They live in the database, so every API worker sees a sign-out or a redemption at once;
recording is an INSERT on the primary key (issuer, jti), which only one worker can win. Each
is kept until its token could no longer verify anyway (expiry plus the verifier's leeway),
then the housekeeping job deletes it.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coordinator.db import SpentTokenId
from coordinator.service import Coordinator
from privacy.tokens import LEEWAY_SECONDS

COORDINATOR = "coordinator"  # the coordinator's own tokens; a node's assertions: node:<id>
JTI = r"[\x21-\x7e]{1,128}"  # visible ASCII (a UUID, say); the column holds 128


def node_issuer(node_id: str) -> str:
    """Each node names its own assertion ids; one node cannot spend another's."""
    return f"node:{node_id}"


def spend(svc: Coordinator, issuer: str, jti: str, exp: int) -> bool:
    """Record ``jti`` as used until ``exp``; False when it already was (a replay)."""
    try:
        with svc.session() as session:
            session.add(SpentTokenId(issuer=issuer, jti=jti, expires_at=exp + LEEWAY_SECONDS))
    except IntegrityError:
        return False
    return True


def is_spent(session: Session, issuer: str, jti: str) -> bool:
    return session.get(SpentTokenId, (issuer, jti)) is not None


def purge(session: Session, now: int) -> int:
    """Delete the ids of tokens that have expired, so no worker would accept them anyway (one
    more leeway: the job's host may run ahead of an API worker's clock)."""
    gone = session.execute(delete(SpentTokenId)
                           .where(SpentTokenId.expires_at < now - LEEWAY_SECONDS)
                           .execution_options(synchronize_session=False))
    return int(gone.rowcount)  # type: ignore[attr-defined]  # a DELETE: a CursorResult
