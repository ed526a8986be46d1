"""Every route of the coordinator, called by every role over real HTTP: the expected allow or
deny is written here, independently of ``coordinator/roles.py``, and every denial of a person
must be an audit entry that names the method and the path (an anonymous one: counted once). A
route added without a line here fails."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from audit.records import DENIALS_COUNTED, Action
from coordinator.denials import pending
from tests.support import tally
from tests.support.served import serving
from tests.support.world import World, embedded_world

PEOPLE = ("police", "judge", "dpo", "planner", "operator", "admin")
CALLERS = ("anonymous", *PEOPLE, "node:alpha")
PUBLIC = frozenset(CALLERS)
SIGNED_IN = frozenset(CALLERS) - {"anonymous"}
CASEWORK = frozenset({"police", "judge", "dpo"})

# (method, path) -> who may call it. Path parameters are filled in from ``IDS``.
EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("POST", "/token"): PUBLIC,
    ("POST", "/users"): frozenset({"admin"}),
    ("GET", "/users"): frozenset({"admin"}),
    ("POST", "/users/{username}/disable"): frozenset({"admin"}),
    ("GET", "/users/me"): SIGNED_IN,
    ("POST", "/nodes"): frozenset({"admin"}),
    ("GET", "/nodes"): frozenset({"dpo", "operator", "admin"}),
    ("GET", "/nodes/{node_id}/enrolment"): frozenset({"admin"}),
    ("POST", "/pins"): frozenset({"admin"}),
    ("GET", "/pins"): frozenset({"judge", "dpo", "admin"}),
    ("GET", "/pins/{sequence}"): frozenset({"judge", "dpo", "admin"}),
    ("POST", "/pins/{sequence}/signatures"): frozenset({"judge", "dpo"}),
    ("POST", "/pins/{sequence}/dispatch"): frozenset({"admin"}),
    ("POST", "/warrants"): frozenset({"police"}),
    ("POST", "/consents"): frozenset({"dpo"}),
    ("GET", "/warrants"): CASEWORK,
    ("GET", "/warrants/{warrant_id}"): CASEWORK,
    ("GET", "/warrants/{warrant_id}/receipt"): CASEWORK,
    ("POST", "/warrants/{warrant_id}/signatures"): frozenset({"judge"}),  # as judge
    ("POST", "/warrants/{warrant_id}/decline"): frozenset({"judge"}),  # as judge
    ("POST", "/warrants/{warrant_id}/revocation"): frozenset({"judge", "dpo"}),
    ("POST", "/queries"): frozenset({"police"}),
    ("POST", "/queries/{query_id}/hits/{node_id}/{sighting_id}/confirmations"):
        frozenset({"police", "dpo"}),
    ("GET", "/queries/{query_id}"): frozenset({"police", "dpo"}),
    ("GET", "/queries"): frozenset({"police", "dpo"}),
    ("POST", "/aggregates"): frozenset({"planner"}),
    ("GET", "/aggregates/budgets"): frozenset({"planner", "dpo"}),
    ("GET", "/aggregates/{query_id}"): frozenset({"planner", "dpo"}),
    ("GET", "/alerts"): frozenset({"operator"}),
    ("GET", "/alerts/stream"): frozenset({"operator"}),
    ("GET", "/alerts/{alert_id}"): frozenset({"operator"}),
    ("POST", "/alerts/{alert_id}/acknowledge"): frozenset({"operator"}),
    ("POST", "/alerts/{alert_id}/close"): frozenset({"operator"}),
    ("POST", "/alerts/{alert_id}/assign"): frozenset({"operator"}),
    ("POST", "/alerts/{alert_id}/clip"): frozenset({"operator"}),
    ("GET", "/alerts/{alert_id}/clip"): frozenset({"operator"}),
    ("GET", "/alerts/{alert_id}/clips/{request_id}/{index}.jpg"): frozenset({"operator"}),
    ("GET", "/incidents"): frozenset({"operator"}),
    ("GET", "/incidents/stream"): frozenset({"operator"}),
    ("GET", "/incidents/{incident_id}"): frozenset({"operator"}),
    ("GET", "/incidents/{incident_id}/evidence/{evidence_id}.jpg"): frozenset({"operator"}),
    ("POST", "/incidents/{incident_id}/acknowledge"): frozenset({"operator"}),
    ("POST", "/incidents/{incident_id}/assign"): frozenset({"operator"}),
    ("POST", "/incidents/{incident_id}/close"): frozenset({"operator"}),
    ("GET", "/delivery-status"): frozenset({"operator"}),
    ("POST", "/webhooks"): frozenset({"admin"}),
    ("GET", "/webhooks"): frozenset({"admin"}),
    ("GET", "/webhooks/{webhook_id}/deliveries"): frozenset({"admin"}),
    ("DELETE", "/webhooks/{webhook_id}"): frozenset({"admin"}),
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/audit/checkpoint"): PUBLIC,
    ("GET", "/audit/checkpoint/witnessed"): PUBLIC,
    ("GET", "/audit/checkpoints"): PUBLIC,
    ("GET", "/audit/entries"): PUBLIC,
    ("GET", "/audit/entries/{index}"): PUBLIC,
    ("GET", "/audit/proofs/inclusion"): PUBLIC,
    ("GET", "/audit/proofs/consistency"): PUBLIC,
    ("GET", "/audit/bundle"): PUBLIC,
    ("GET", "/audit/receipts/{index}"): PUBLIC,
    ("POST", "/audit/cosignatures"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/portal"): PUBLIC,
    ("GET", "/portal/report.json"): PUBLIC,
    ("GET", "/portal/verify"): PUBLIC,
    ("GET", "/portal/witnessed"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/console"): frozenset({"dpo"}),
    ("GET", "/console/entries/{index}"): frozenset({"dpo"}),
    ("GET", "/console/approvals"): frozenset({"dpo"}),
    ("GET", "/console/budgets"): frozenset({"dpo"}),
    ("GET", "/console/record-of-processing"): frozenset({"dpo"}),
    ("GET", "/console/record-of-processing.csv"): frozenset({"dpo"}),
    ("GET", "/console/record-of-processing.pdf"): frozenset({"dpo"}),
    ("GET", "/casework"): CASEWORK,
    ("GET", "/casework/new"): frozenset({"police"}),
    ("GET", "/casework/warrants/{warrant_id}"): CASEWORK,
    ("GET", "/casework/queries/{query_id}"): frozenset({"police", "dpo"}),
    ("GET", "/control-room"): frozenset({"operator"}),
    ("GET", "/control-room/live/{node_id}/{camera}.jpg"): frozenset({"operator"}),
    ("GET", "/control-room/incidents/{incident_id}"): frozenset({"operator"}),
    ("GET", "/control-room/wall"): frozenset({"operator"}),
    ("GET", "/control-room/wall/cameras"): frozenset({"operator"}),
    ("GET", "/control-room/wall/layout"): frozenset({"operator"}),
    ("PUT", "/control-room/wall/layout"): frozenset({"operator"}),
    ("GET", "/control-room/map"): frozenset({"operator"}),
    ("GET", "/control-room/map/cameras.json"): frozenset({"operator"}),
    ("GET", "/control-room/map/basemap.geojson"): frozenset({"operator"}),
    ("GET", "/admin"): frozenset({"admin"}),
    ("GET", "/admin/nodes/{node_id}/enrolment.json"): frozenset({"admin"}),
    ("GET", "/planner"): frozenset({"planner"}),
    ("GET", "/planner/cost"): frozenset({"planner"}),
    ("POST", "/planner/questions"): frozenset({"planner"}),
    ("GET", "/planner/questions/{query_id}"): frozenset({"planner", "dpo"}),
    ("GET", "/static/{path}"): PUBLIC,
}

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/warrants/{warrant_id}/signatures"): {"role": "judge", "signature": "AAAA"},
    ("POST", "/warrants/{warrant_id}/decline"): {"role": "judge", "reason": "no grounds"},
    ("POST", "/alerts/{alert_id}/assign"): {"username": "operator"},
    ("POST", "/incidents/{incident_id}/assign"): {"username": "operator"},
    ("POST", "/incidents/{incident_id}/close"): {"note": "dealt with"},
    ("PUT", "/control-room/wall/layout"): {"size": 1, "tiles": [None]},
}
QUERY: dict[str, dict[str, Any]] = {
    "/audit/proofs/inclusion": {"index": 0, "size": 1},
    "/audit/proofs/consistency": {"first": 1, "second": 1},
}


def routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, through included routers and mounts."""
    found: set[tuple[str, str]] = set()

    def walk(items: list[Any]) -> None:
        for route in items:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif hasattr(route, "methods"):
                found.update((m, route.path) for m in route.methods - {"HEAD"})
            else:  # a mount: static files
                found.add(("GET", f"{route.path}/{{path}}"))

    walk(app.routes)
    return found


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory):
    world = embedded_world(tmp_path_factory.mktemp("matrix"))
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def test_the_matrix_names_every_route(city: World) -> None:
    served = routes(city.client.app)
    assert served == set(EXPECTED), (
        f"routes without an expected row: {sorted(served - set(EXPECTED))}; "
        f"rows for routes that are gone: {sorted(set(EXPECTED) - served)}")


def denials(world: World, start: int) -> list[dict[str, Any]]:
    """The ACCESS_DENIED entries of people from ``start`` on, with their (DPO-only) details
    opened (anonymous denials are counted instead: ``anonymous``)."""
    found = []
    for entry in world.svc.audit.entries(start, 10_000):
        if entry.record.action is Action.ACCESS_DENIED \
                and entry.record.outcome != DENIALS_COUNTED:
            details = {k: json.loads(v) for k, v in world.svc.audit.details(entry.index).items()}
            found.append({"outcome": entry.record.outcome, **details})
    return found


def anonymous(world: World, start: int) -> int:
    """Anonymous denials still counted, plus those in aggregated entries (public counts) from
    ``start`` on. The log only grows, so the difference of two calls with the same ``start`` is
    the number of anonymous denials between them (reading the whole log each time, 1,600 times
    over a growing log, was most of this test's time)."""
    return sum(pending(world.svc).values()) + sum(
        e.record.counts_returned for e in world.svc.audit.entries(start, 100_000)
        if e.record.outcome == DENIALS_COUNTED)


def call(client: httpx.Client, method: str, path: str, headers: dict[str, str],
         body: Any) -> httpx.Response:
    if path in ("/alerts/stream", "/incidents/stream"):  # endless: the status line answers
        with client.stream(method, path, headers=headers) as response:
            return response
    if method in ("POST", "PUT", "DELETE") and body is not None:
        return client.request(method, path, headers=headers, content=json.dumps(body),
                              params=QUERY.get(path))
    return client.request(method, path, headers=headers, params=QUERY.get(path))


def test_every_route_for_every_role(city: World) -> None:
    warrant = city.draft()
    ids = {"warrant_id": warrant["warrant_id"], "query_id": "q-none", "node_id":
           city.nodes["alpha"].node_id, "sighting_id": "s-none", "alert_id": "1",
           "incident_id": "1", "evidence_id": "1",
           "request_id": "00000000-0000-4000-8000-000000000000",
           "webhook_id": "w-none", "index": "0", "camera": "gate", "path": "site.css",
           "sequence": "7", "username": "nobody-here"}
    headers = {caller: ({} if caller == "anonymous" else city.as_(caller)) for caller in CALLERS}
    wrong: list[str] = []
    with serving(city.svc) as base, httpx.Client(base_url=base, timeout=15) as client:
        for (method, template), allowed in sorted(EXPECTED.items()):
            path = template.format(**ids)
            body = BODIES.get((method, template), {} if method == "POST" else None)
            for caller in CALLERS:
                start = city.svc.audit.size()
                counted = anonymous(city, start)
                response = call(client, method, path, {
                    **headers[caller], "Content-Type": "application/json"}, body)
                seen = denials(city, start)
                counted = anonymous(city, start) - counted
                where = f"{caller} {method} {path} -> {response.status_code}"
                tally.add("route-role checks")
                if caller in allowed:
                    if response.status_code == 401 or seen or counted:
                        wrong.append(f"{where}: denied, but the matrix allows it ({seen})")
                    continue
                status = 401 if caller == "anonymous" else 403
                if response.status_code != status:
                    wrong.append(f"{where}: expected a {status} denial")
                elif caller == "anonymous":
                    if seen or counted != 1:
                        wrong.append(f"{where}: the denial is not counted once ({counted})")
                elif [(d["method"], d["path"]) for d in seen] != [(method, path)]:
                    wrong.append(f"{where}: the denial is not audited once ({seen})")
    assert not wrong, "\n".join(wrong)
