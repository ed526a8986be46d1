"""Clock skew between a node and the coordinator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from coordinator.query_messages import open_result
from nodes.identity import load_identity
from nodes.inbox import Inbox
from privacy.tokens import issue
from tests.support import tally
from tests.support.problem_details import problem
from tests.support.world import embedded_world
from tests.unit.test_node_refusals import rogue, stored

SKEWS = [  # node clock minus coordinator clock -> what the node does with a fresh query
    (timedelta(seconds=90), "answered", None),
    (timedelta(seconds=-90), "answered", None),
    (timedelta(minutes=-10), "refused", "dated in the future"),  # the node is behind
    (timedelta(minutes=45), "refused", "longer ago than"),  # ahead past the 30 min max age
]


def test_clock_skew_between_node_and_coordinator(tmp_path: Path) -> None:
    """Expected: within the 2-minute tolerance a node answers; beyond it a query is refused with
    a reason naming the time problem (never answered on a wrong clock); a node whose clock is
    10 minutes ahead cannot log in with an assertion "not valid yet", and the refusal is audited."""
    world = embedded_world(tmp_path)
    try:
        world.add_node("alpha", "site-a")
        warrant = world.registered(max_uses=10)
        signed, index = stored(world, warrant["warrant_id"])
        node = world.nodes["alpha"]
        for skew, status, reason in SKEWS:
            service = Inbox.open(node.settings,
                             clock=lambda skew=skew: datetime.now(UTC) + skew)
            message = rogue(world, signed, index)
            try:
                answer = open_result(service.queries.answer(message), world.svc.keys.sealing,
                                     message["request"]["query_id"], node.node_id)
            finally:
                service.close()
            assert answer.result.status == status, (skew, answer.result)
            if reason:
                assert reason in (answer.result.detail or ""), (skew, answer.result.detail)
            tally.add("fault scenarios")
        ahead = int((datetime.now(UTC) + timedelta(minutes=10)).timestamp())
        assertion = issue({"sub": node.node_id, "aud": "safecity-coordinator/token",
                           "iat": ahead, "exp": ahead + 60, "jti": "ahead"},
                          load_identity(node.settings.keys_dir).signing, node.node_id)
        before = world.anonymous_denials()["bad_assertion"]
        login = world.client.post("/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
        body = problem(login, 401, "bad_assertion")
        assert "not valid yet" in body["detail"]
        # a caller with no valid assertion is anonymous: counted (test_denial_flood), audited
        assert world.anonymous_denials()["bad_assertion"] == before + 1
        tally.add("fault scenarios")
    finally:
        world.close()
