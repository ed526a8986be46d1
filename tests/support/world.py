"""A small city for coordinator and node tests: a coordinator (FastAPI app in process, real
database and broker), people with real password hashes and signing keys, and enrolled nodes
whose query workers run in process (``service``) or as separate processes (``start_worker``)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from unittest.mock import patch

import cv2
import numpy as np
from fastapi.testclient import TestClient

from audit.records import DENIALS_COUNTED
from contract.camera_placement import Placement
from contract.queries import QueryResult
from contract.tasks import QUERY_TASK
from coordinator import passwords
from coordinator.app import create_app
from coordinator.config import CoordinatorSettings
from coordinator.denials import pending
from coordinator.query_messages import open_result
from coordinator.roles import Role
from coordinator.service import Coordinator
from coordinator.services import users
from coordinator.services.requests import NewUser
from coordinator.services.users import create_user
from nodes.camera_notices import placement_line
from nodes.config import NodeSettings, load_settings
from nodes.enrolment import parse_enrolment, save_enrolment
from nodes.enrolment_request import enrolment_request
from nodes.identity import load_identity
from nodes.inbox import Inbox
from nodes.vault.site import initialise
from privacy.signing import SigningKey
from privacy.tokens import issue
from tests.support.witnesses import shared_witnesses

PASSWORD = "correct horse battery staple"
T0 = datetime.now(UTC).replace(microsecond=0)  # worker processes run on the real clock
CAMERAS = ("gate", "lobby")


@cache
def people_hash(password: str) -> str:
    """The real Argon2id hash of ``password``, made once per test process: a city's six people
    share it (and its salt). Hashing it anew for each of them, in every city of every test, was
    most of an in-process test's time; logging in still verifies against it with Argon2."""
    return passwords.hash_password(password)


def picture(seed: int, side: int = 48) -> str:
    """A small base64 PNG (noise, no face): a face warrant's reference image where the test
    does not search with it."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".png", pixels)
    assert ok
    return base64.b64encode(data.tobytes()).decode()


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    """Stop a process group started by the world (SIGKILL after 20 s)."""
    if process is not None and process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class Node:
    node_id: str
    settings: NodeSettings
    config: Path
    process: subprocess.Popen | None = None
    service: Inbox | None = None


@dataclass
class World:
    root: Path
    db_url: str
    broker: str
    backend: str
    now: list[datetime | None] = field(default_factory=lambda: [None])  # None: the real clock
    query_timeout: float = 30.0
    options: dict[str, Any] = field(default_factory=dict)  # further coordinator settings

    def __post_init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.witness_servers = shared_witnesses()
        options = {"origin": f"city-{self.tag}.test.example/audit",
                   **self.witness_servers.settings(), **self.options}
        self.settings = CoordinatorSettings(
            data_dir=self.root / "coordinator", database_url=self.db_url,
            broker_url=self.broker, result_backend=self.backend,
            query_timeout_seconds=self.query_timeout, **options)
        self.svc = Coordinator.open(self.settings, clock=self.clock)
        self.witness_servers.follow(self.svc.keys.log.verifier)
        self.client = TestClient(create_app(self.svc))
        self.judge_key, self.dpo_key = SigningKey.generate(), SigningKey.generate()
        with patch.object(users, "hash_password", people_hash):
            self._add_people()
        self.nodes: dict[str, Node] = {}
        self._tokens: dict[str, str] = {}
        self.coordinator_worker: subprocess.Popen | None = None

    def _add_people(self) -> None:
        for name, role, key in (("admin", Role.ADMIN, None), ("police", Role.POLICE, None),
                                ("judge", Role.JUDGE, self.judge_key),
                                ("dpo", Role.DPO, self.dpo_key),
                                ("planner", Role.PLANNER, None),
                                ("operator", Role.OPERATOR, None)):
            create_user(self.svc, NewUser(username=name, role=role, agency="city",
                                          password=PASSWORD,
                                          signing_key=key.public.text() if key else None),
                        self.svc.actor("admin", Role.ADMIN.value, "city"))

    def clock(self) -> datetime:
        return self.now[0] or datetime.now(UTC)

    def set_time(self, moment: datetime | None) -> None:
        """Move the coordinator's (and in-process nodes') clock; people log in again."""
        self.now[0] = moment
        self._tokens.clear()

    # -- people ------------------------------------------------------------------------------

    def token(self, username: str) -> str:
        if username not in self._tokens:
            response = self.client.post("/token", data={"grant_type": "password",
                                                        "username": username,
                                                        "password": PASSWORD})
            assert response.status_code == 200, response.text
            self._tokens[username] = response.json()["access_token"]
        return self._tokens[username]

    def as_(self, username: str) -> dict[str, str]:
        """Headers for a person, or for an enrolled node by its short name (``node:alpha``)."""
        if username.startswith("node:"):
            return {"Authorization": f"Bearer {self.node_token(username[5:])}"}
        return {"Authorization": f"Bearer {self.token(username)}"}

    def node_token(self, name: str) -> str:
        """A node's bearer token, got with an assertion signed by its enrolled key."""
        key = f"node:{name}"
        if key not in self._tokens:
            node = self.nodes[name]
            now = int(self.clock().timestamp())
            assertion = issue({"sub": node.node_id, "aud": "safecity-coordinator/token",
                               "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())},
                              load_identity(node.settings.keys_dir).signing, node.node_id)
            response = self.client.post("/token", data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion})
            assert response.status_code == 200, response.text
            self._tokens[key] = response.json()["access_token"]
        return self._tokens[key]

    # -- nodes -------------------------------------------------------------------------------

    def add_node(self, name: str, site: str, sources: dict[str, str] | None = None,
                 extra: str = "", analytics: str = "", broker: str | None = None,
                 backend: str | None = None, placements: dict[str, Placement] | None = None
                 ) -> Node:
        """Enrol a node; its config names ``broker`` and ``backend`` (default: the
        coordinator's URLs) and places the cameras ``placements`` names (as
        ``[cameras.placement]`` does), which enrolment sends for the map."""
        node_id = f"{name}-{self.tag}"
        data = self.root / node_id
        config = self.root / f"{node_id}.toml"
        sources, placements = sources or {}, placements or {}
        cameras = "\n".join(
            f'[[cameras]]\nid = "{c}"\nsource = "{sources.get(c, "synthetic:")}"\n'
            f'{placement_line(placements[c]) if c in placements else ""}{analytics}'
            for c in CAMERAS)
        config.write_text(f'site_id = "{site}"\ndata_dir = "{data}"\n'
                          f'broker_url = "{broker or self.broker}"\n'
                          f'result_backend = "{backend or self.backend}"\n'
                          f'{extra}{cameras}')
        settings = load_settings(config)
        initialise(settings)
        response = self.client.post("/nodes", headers=self.as_("admin"),
                                    json=enrolment_request(settings, node_id))  # as printed
        assert response.status_code == 201, response.text
        save_enrolment(data, parse_enrolment(response.text, "test"))
        node = Node(node_id, settings, config)
        self.nodes[name] = node
        return node

    def service(self, name: str) -> Inbox:
        node = self.nodes[name]
        if node.service is None:
            node.service = Inbox.open(node.settings, clock=self.clock)
        return node.service

    def seed(self, name: str, rows: list[tuple[Any, ...]]) -> None:
        """Plate sightings at a node, as its camera would have stored them: (camera, time,
        track, plate, thumbnail) rows; for nodes whose worker runs as a process."""
        service = Inbox.open(self.nodes[name].settings)
        try:
            service.sightings.add_many(rows)
        finally:
            service.close()

    def start_worker(self, name: str) -> None:
        node = self.nodes[name]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        log = open(self.root / f"{node.node_id}.log", "ab")  # noqa: SIM115 - the process owns it
        node.process = subprocess.Popen(
            [sys.executable, "-c", "from nodes.cli import main; main()", "node", "worker",
             "--config", str(node.config), "--loglevel", "WARNING"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def stop_worker(self, name: str, sig: int = signal.SIGTERM) -> None:
        node = self.nodes[name]
        stop(node.process, sig)
        node.process = None

    def straight_to(self, name: str, message: dict[str, Any], seconds: float = 120,
                    hidden: tuple[bytes, ...] = ()) -> QueryResult:
        """Put a coordinator-signed query straight on a node's queue, as a compromised
        coordinator or a tampered broker would, and wait for the node worker's answer (in
        which the broker may see none of ``hidden``: only the seal)."""
        node = self.nodes[name]
        query_id = message["request"]["query_id"]
        task_id = f"rogue-{query_id}"
        self.svc.dispatcher.send(QUERY_TASK, message, node.node_id, task_id)
        deadline = time.monotonic() + seconds
        while (answer := self.svc.dispatcher.answer(task_id)) is None:
            assert time.monotonic() < deadline, self.worker_log(name)
            time.sleep(0.2)
        carried = json.dumps(answer).encode()
        assert not [h for h in hidden if h in carried], "the broker saw what the seal hides"
        return open_result(answer, self.svc.keys.sealing, query_id, node.node_id).result

    def worker_log(self, name: str) -> str:
        return (self.root / f"{self.nodes[name].node_id}.log").read_text(errors="replace")

    def config_text(self) -> str:
        """The TOML a coordinator process needs to be this city's coordinator: its database,
        keys, broker, log origin and witnesses."""
        witnesses = ", ".join(f'{{url = "{w.url}", key = "{w.key}"}}'
                              for w in self.settings.witnesses)
        return (f'data_dir = "{self.settings.data_dir}"\n'
                f'database_url = "{self.db_url}"\nbroker_url = "{self.broker}"\n'
                f'result_backend = "{self.backend}"\norigin = "{self.settings.origin}"\n'
                f'witness_quorum = {self.settings.witness_quorum}\n'
                f'witnesses = [{witnesses}]\n')

    def start_coordinator_worker(self, extra: str = "", beat: bool = False) -> None:
        """`safecity coordinator worker` on the same database, keys and broker (``extra``:
        more config lines; ``beat``: it schedules the housekeeping jobs too)."""
        config = self.root / "coordinator-worker.toml"
        config.write_text(self.config_text() + extra)
        log = open(self.root / "coordinator-worker.log", "ab")  # noqa: SIM115 - the process owns it
        self.coordinator_worker = subprocess.Popen(
            [sys.executable, "-c", "from nodes.cli import main; main()", "coordinator", "worker",
             "--config", str(config), "--loglevel", "WARNING", *(["--beat"] if beat else [])],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True)

    def stop_coordinator_worker(self, sig: int = signal.SIGTERM) -> None:
        stop(self.coordinator_worker, sig)
        self.coordinator_worker = None

    # -- warrants ----------------------------------------------------------------------------

    def draft(self, **changes: Any) -> dict[str, Any]:
        body = {"kind": "plate_watchlist", "purpose_code": "serious-crime",
                "sites": sorted({n.settings.site_id for n in self.nodes.values()}),
                "cameras": list(CAMERAS),
                "window": {"start": (T0 - timedelta(days=7)).isoformat(),
                           "end": T0.isoformat()},
                "not_before": (T0 - timedelta(hours=1)).isoformat(),
                "expires_at": (T0 + timedelta(days=2)).isoformat(),
                "max_uses": 3, "targets": ["AB12 CDE", "XY99ZZZ"],
                "case_number": "CASE-2026-0042",
                "justification": "robbery suspect's vehicle seen near the station"} | changes
        response = self.client.post("/warrants", headers=self.as_("police"), json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def sign(self, warrant: dict[str, Any], role: str = "judge",
             key: SigningKey | None = None) -> Any:
        key = key or (self.judge_key if role == "judge" else self.dpo_key)
        payload = base64.b64decode(warrant["payload"])
        return self.client.post(
            f"/warrants/{warrant['warrant_id']}/signatures", headers=self.as_(role),
            json={"role": role, "signature": base64.b64encode(key.sign(payload)).decode()})

    def registered(self, **changes: Any) -> dict[str, Any]:
        warrant = self.draft(**changes)
        response = self.sign(warrant)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "registered"
        return response.json()

    def anonymous_denials(self) -> Counter[str]:
        return anonymous_denials(self.svc)

    def close(self) -> None:
        self.stop_coordinator_worker()
        for name in list(self.nodes):
            self.stop_worker(name)
            if self.nodes[name].service:
                self.nodes[name].service.close()
        self.client.close()
        self.svc.close()


def embedded_world(root: Path, **kwargs: Any) -> World:
    """A world on the embedded defaults: SQLite, and a broker that needs no server."""
    return World(root, f"sqlite:///{root / 'coordinator.sqlite'}",
                 f"sqla+sqlite:///{root / 'broker.sqlite'}",
                 f"db+sqlite:///{root / 'results.sqlite'}", **kwargs)


def anonymous_denials(svc: Coordinator) -> Counter[str]:
    """Anonymous denials by outcome: those still counted in the database, and those the
    aggregated log entries hold (their DPO-only details opened)."""
    found: Counter[str] = Counter()
    for (_, outcome), number in pending(svc).items():
        found[outcome] += number
    for entry in svc.audit.entries(0, 1_000_000):
        if entry.record.outcome == DENIALS_COUNTED:
            networks = json.loads(svc.audit.details(entry.index)["networks"])
            for outcomes in networks.values():
                found.update(outcomes)
    return found
