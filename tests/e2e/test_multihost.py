"""Across hosts, with TLS on every link: a coordinator host and site hosts in network
namespaces of the test's own (`multihost.City`): two sites with live cameras, and a third that
only learns (a round that loses a site must keep two under secure aggregation: nodes never send
an update in the clear). A warrant-gated plate query, alerts from the cameras and a federated
round go end to end; one camera site's link is cut (its interface down): the query reports that
site unreachable, the round completes with the others, and once the link is back the site's
events all arrive. The broker is restarted with events in its queues: nothing
is lost. The health and metrics endpoints of every process are scraped, and no log of the run
holds a plate, a person's name, a key or a token."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.log_scan import key_encodings, leaks
from tests.support.multihost import (
    API_METRICS,
    API_PORT,
    FLEET_PORT,
    FLOWER_HEALTH,
    FLOWER_PORT,
    NODE_HEALTH,
    PEOPLE,
    WORKER_HEALTH,
    City,
    Site,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def city(tmp_path: Path, model_dir: Path) -> Iterator[City]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("the multi-host test makes network namespaces: it needs root and iproute2")
    made = City(tmp_path, model_dir)
    try:
        made.build()
        yield made
    finally:
        made.close()


def wait(condition: Callable[[], object], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def delivered(city: City, site: Site) -> Counter[tuple[str, str, datetime]]:
    return Counter((a["rule"], a["camera"], datetime.fromisoformat(a["time"]))
                   for a in city.alerts() if a["node_id"] == site.node_id)


def outbox(site: Site, sent_only: bool = False) -> Counter[tuple[str, str, datetime]]:
    return Counter((r, c, t) for r, c, t, sent in site.events() if sent or not sent_only)


def all_arrived(city: City, site: Site) -> bool:
    """Every event in the site's outbox is sent and is an alert at the coordinator, once."""
    events = site.events()
    if not events or any(not sent for *_, sent in events):
        return False
    have, made = delivered(city, site), outbox(site)
    assert not have - made, f"alerts {site.name} never made, or doubled: {have - made}"
    return not made - have


def statuses(view: dict) -> dict[str, str]:
    return {n["node_id"]: n["status"] for n in view["nodes"]}


def test_a_city_across_hosts(city: City) -> None:
    a, b, c = city.sites["site-a"], city.sites["site-b"], city.sites["site-c"]
    plates = [a.plate, b.plate]
    # a site reaches the coordinator over its own link only, and the other site not at all
    assert city.connect(a.host, a.link.a_address, API_PORT) == 0
    assert city.connect(a.host, city.office.b_address, API_PORT) == errno.ENETUNREACH
    assert city.connect(a.host, b.link.b_address, NODE_HEALTH) == errno.ENETUNREACH
    # of the SuperLink a site reaches only the Fleet API, through the gateway
    assert city.connect(a.host, a.link.a_address, FLOWER_PORT) == errno.ECONNREFUSED
    for call in ("/v1/control/start-run", "/v1/control/register-node", "/v1/runtime/get-run"):
        status, _ = city.fetch(a.host, f"https://{a.link.a_address}:{FLEET_PORT}{call}", "POST")
        assert status == 404, call

    # 1. everything up: a query, alerts, a federated round
    warrant = city.warrant([a.name, b.name], plates)
    view = city.query(warrant, plates)
    assert statuses(view) == {a.node_id: "answered", b.node_id: "answered"}, view
    assert sorted((h["node_id"], h["target"]) for h in view["hits"]) == [
        (a.node_id, a.plate), (b.node_id, b.plate)]
    wait(lambda: all(delivered(city, s) for s in (a, b)), "alerts from both sites")
    everyone = city.train(3)
    assert everyone["status"] == "completed", everyone
    assert {s for h in everyone["history"] for s in h.get("sites", ())} == {a.name, b.name,
                                                                            c.name}

    # 2. site A's cable is pulled
    a.link.set(False)
    view = city.query(warrant, plates)
    assert statuses(view) == {a.node_id: "unreachable", b.node_id: "answered"}, view
    assert [h["target"] for h in view["hits"]] == [b.plate]
    # upper bounds only: a loaded 2-core CI machine needs more than an idle one
    rest = city.train(2, "--set", "round-timeout=90", "--set", "join-timeout=15")
    assert rest["status"] == "completed", rest
    assert {s for h in rest["history"] for s in h.get("sites", ())} == {b.name, c.name}
    assert a.name not in rest["epsilon_spent"]
    waiting = [e for e in a.events() if not e[3]]
    assert waiting, "site A made no events while its link was down"
    a.link.set(True)
    wait(lambda: all_arrived(city, a), "site A to catch up", 180)

    # 3. the broker restarts with events in its queues (nobody takes them meanwhile)
    city.stop("coordinator-worker")
    sent = {s.name: sum(e[3] for e in s.events()) for s in (a, b)}
    wait(lambda: all(sum(e[3] for e in s.events()) > sent[s.name] + 1 for s in (a, b)),
         "events queued at the broker")
    queued = {s.name: outbox(s, sent_only=True) - delivered(city, s) for s in (a, b)}
    assert all(queued.values()), queued  # events the broker holds and nobody has taken
    city.stop("broker")
    time.sleep(3)  # the sites keep their events meanwhile
    city.start_broker()
    city.start_coordinator_worker()
    wait(lambda: all_arrived(city, a) and all_arrived(city, b), "every event after the restart",
         180)
    view = city.query(warrant, plates)
    site_a = next(n for n in view["nodes"] if n["node_id"] == a.node_id)
    if site_a["status"] == "refused":
        # Site A's worker takes the query that waited in its queue (from while its link was
        # down) together with this one, after the broker restart: it accepts the older one's
        # checkpoint first and refuses this one's proof (SECURITY.md residual: concurrent
        # dispatch, log_conflict). Nothing is answered wrongly; the answer names the size it
        # holds, and the analyst's next submission is proven from it.
        assert site_a["reason"] == "log_conflict", view
        view = city.query(warrant, plates)
    assert statuses(view) == {a.node_id: "answered", b.node_id: "answered"}, view

    # 4. health and metrics of every process
    assert city.http.get("/healthz").status_code == 200
    ready = city.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert city.http.get("/metrics").status_code == 404  # not on the public API port
    status, metrics = city.fetch(city.coordinator, f"http://127.0.0.1:{API_METRICS}/metrics")
    assert re.search(r"^safecity_audit_log_entries \d+", metrics, re.M), metrics[:2000]
    status, body = city.fetch(city.coordinator, f"http://127.0.0.1:{WORKER_HEALTH}/readyz")
    assert status == 200 and json.loads(body)["checks"] == {"broker": "ok", "database": "ok"}
    status, body = city.fetch(city.coordinator, f"http://127.0.0.1:{WORKER_HEALTH}/metrics")
    assert re.search(r'^safecity_worker_messages_total\{outcome="accepted",task="events"\} '
                     r'[1-9]', body, re.M), body[:2000]
    assert city.grpc_health(city.coordinator, f"127.0.0.1:{FLOWER_HEALTH}") == "SERVING"
    for site in (a, b, c):
        status, body = city.fetch(site.host, f"http://127.0.0.1:{WORKER_HEALTH}/readyz")
        assert status == 200 and json.loads(body)["checks"] == {"broker": "ok"}, body
        assert city.grpc_health(site.host, f"127.0.0.1:{FLOWER_HEALTH}") == "SERVING"
    for site in (a, b):
        status, body = city.fetch(site.host, f"http://127.0.0.1:{NODE_HEALTH}/readyz")
        assert status == 200 and json.loads(body)["checks"] == {"gate": "ok"}, body
        status, body = city.fetch(site.host, f"http://127.0.0.1:{NODE_HEALTH}/metrics")
        frames = re.search(r'^safecity_camera_frames_total\{camera="gate"\} ([\d.e+]+)', body,
                           re.M)
        assert status == 200 and frames and float(frames.group(1)) > 0, body[:2000]

    # 5. no plate, name, key or token in any log of the run
    for name in list(city.processes):
        city.stop(name)
    every_plate = [s.plate for s in (a, b, c)]
    secrets = {plate: f"plate {plate}" for plate in every_plate}
    secrets |= {f"{p[:4]} {p[4:]}": f"plate {p}" for p in every_plate}
    secrets |= {name: "a person's name" for name, _ in PEOPLE}
    secrets |= dict.fromkeys(city.passwords.values(), "a password")
    secrets[city.broker_password] = "the broker's password"
    for path in city.root.rglob("*.key"):
        secrets |= {encoding: str(path) for encoding in key_encodings(path)}
    places = {str(p): p.read_text(errors="replace") for p in city.root.rglob("*.log")}
    assert city.postgres is not None
    database_log = city.postgres.folder / "server.log"
    places[str(database_log)] = database_log.read_text(errors="replace")
    assert len(places) >= 13, sorted(places)
    assert not leaks(secrets, places)
    # the admin's terminal shows the people it added, and nothing secret
    terminal = {"commands": (city.root / "commands.out").read_text()}
    assert not leaks({k: v for k, v in secrets.items() if v != "a person's name"}, terminal)
