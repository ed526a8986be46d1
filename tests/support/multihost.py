"""A city on three hosts (network namespaces, `netns`): the coordinator host runs PostgreSQL,
a TLS-only Redis (append-only file, fsync always), the API under two uvicorn workers over HTTPS,
the coordinator's worker and the Flower SuperLink; each site host runs its node (`node run` on
a live camera), its query worker and its SuperNode. Every process is a `safecity` command with
a config file, as in docs/deploy.md; the test talks to the API over its own link, as a browser
in the city's offices would. Sites reach the coordinator only over their own link, and verify it
against the city CA they pinned at enrolment."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from nodes.analytics.trajectories import TrajectoryStore
from nodes.config import load_settings
from nodes.identity import load_identity
from nodes.sightings import SightingStore
from nodes.vault.site import initialise
from privacy.pki import Issued, issue, make_ca
from privacy.signing import SigningKey
from simulation.behaviours import site_trajectories
from tests.support.netns import Host, Link, Network
from tests.support.postgres_server import PostgresServer

SAFECITY = (sys.executable, "-c", "from nodes.cli import main; main()")
API_PORT, BROKER_PORT, FLOWER_PORT, FLEET_PORT = 8443, 6380, 9092, 9443
WITNESS_PORT, WITNESSES = 8470, 3  # the witnesses listen on the coordinator host (loopback)
NODE_HEALTH, WORKER_HEALTH, FLOWER_HEALTH = 9100, 9101, 9102  # each host's loopback
API_METRICS = 9104  # the coordinator API's /metrics, on its loopback
# people of the city; their names must never reach a log
PEOPLE = (("admin-ingrid-halvorsen", "admin"), ("officer-tomas-ferreira", "police_analyst"),
          ("judge-amara-okafor", "judge"), ("dpo-lena-brandt", "dpo"),
          ("operator-yusuf-demir", "site_operator"))
CAMERA = ("synthetic:seed={seed},seconds=15,width=320,height=180,people=3,vehicles=1,fps=4,"
          "live=1")
ANALYTICS = """[cameras.analytics]
detector = "motion"
zones = [{id = "street", polygon = [[0, 0], [1, 0], [1, 1], [0, 1]]}]
rules = [{id = "anyone-in-street", type = "occupancy", zone = "street", max_count = 0},
         {id = "no-entry", type = "restricted_area", zone = "street"}]
"""


@dataclass
class Site:
    name: str
    host: Host
    link: Link  # to the coordinator host; cut it with link.set(False)
    config: Path
    plate: str  # a plate this site saw yesterday

    @property
    def node_id(self) -> str:
        return f"{self.name}-node"

    @property
    def data_dir(self) -> Path:
        return load_settings(self.config).data_dir

    def events(self) -> list[tuple[str, str, datetime, int]]:
        """(rule, camera, time, sent) of every event in the node's outbox."""
        import sqlite3

        with sqlite3.connect(f"file:{self.data_dir / 'events.sqlite'}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT rule, camera, time, sent FROM events ORDER BY id").fetchall()
        return [(rule, camera, _utc(moment), sent) for rule, camera, moment, sent in rows]


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class City:
    root: Path
    model_dir: Path
    network: Network = field(default_factory=Network)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    sites: dict[str, Site] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    keys: dict[str, SigningKey] = field(default_factory=dict)
    postgres: PostgresServer | None = None

    # -- building -----------------------------------------------------------------------------

    def build(self, site_names: tuple[str, ...] = ("site-a", "site-b", "site-c"),
              with_cameras: int = 2) -> None:
        """The coordinator host and one host per site; the first ``with_cameras`` sites run
        their cameras (the others only learn and answer)."""
        self.coordinator = self.network.host("coord")
        self.office = self.network.link(None, self.coordinator, 1)  # the test's own link
        site_hosts = {name: self.network.host(name[-1]) for name in site_names}
        links = {name: self.network.link(self.coordinator, host, 2 + index)
                 for index, (name, host) in enumerate(site_hosts.items())}
        self.pki = self.root / "pki"
        self.ca = make_ca(self.pki, "test city CA")
        names = [self.office.b_address, *(link.a_address for link in links.values()),
                 "127.0.0.1", "localhost"]
        self.tls: Issued = issue(self.ca, self.pki, "coordinator", names)
        self._start_coordinator_host()
        for index, name in enumerate(site_names):
            self.sites[name] = self._enrol(name, site_hosts[name], links[name], index)
        self.start("superlink", self.coordinator, "fl", "superlink", "--config",
                   str(self.coordinator_config))
        self.wait_for_log("superlink", "SuperNode key(s) registered")
        for index, site in enumerate(self.sites.values()):
            self.start_site(site, camera=index < with_cameras)

    def _start_coordinator_host(self) -> None:
        self.postgres = PostgresServer(self.coordinator.within)
        self.postgres.start()
        self.broker_dir = self.root / "broker"
        self.broker_dir.mkdir()
        self.broker_password = os.urandom(16).hex()
        self.start_broker()
        ca = self.ca.certificate
        verified = f"?ssl_cert_reqs=required&ssl_ca_certs={ca}"
        self.coordinator_config = self.root / "coordinator.toml"
        self.coordinator_config.write_text(f"""
data_dir = "{self.root / 'coordinator'}"
database_url = "{self.postgres.url}"
broker_url = "rediss://:{self.broker_password}@127.0.0.1:{BROKER_PORT}/0{verified}"
result_backend = "rediss://:{self.broker_password}@127.0.0.1:{BROKER_PORT}/1{verified}"
host = "0.0.0.0"
port = {API_PORT}
workers = 2
tls_certificate = "{self.tls.certificate}"
tls_private_key = "{self.tls.key}"
city_ca = "{ca}"
query_timeout_seconds = 30  # the default; 15 s left site B "unreachable" on a loaded CI machine
flower_superlink = "127.0.0.1:{FLOWER_PORT}"
flower_fleet_address = "0.0.0.0:{FLEET_PORT}"
flower_health_address = "127.0.0.1:{FLOWER_HEALTH}"
worker_health_port = {WORKER_HEALTH}
metrics_address = "127.0.0.1:{API_METRICS}"
flower_ca = "{ca}"
flower_certificate = "{self.tls.certificate}"
flower_private_key = "{self.tls.key}"
witness_quorum = 2
witnesses = [""" + ", ".join(f'{{url = "http://127.0.0.1:{WITNESS_PORT + i}", key = "{vkey}"}}'
                             for i, vkey in enumerate(self._witness_keys())) + "]\n")
        log_key = json.loads(self.run(self.coordinator, "coordinator", "init", "--config",
                                      str(self.coordinator_config)))["log_key"]
        for i in range(WITNESSES):  # three institutions' witnesses, each with its own key
            self.start(f"witness-{i}", self.coordinator, "audit", "witness", "serve", "--key",
                       str(self.root / f"witness-{i}.key"), "--log-key", log_key, "--state",
                       str(self.root / f"witness-{i}.json"), "--port", str(WITNESS_PORT + i))
        for name, role in PEOPLE:
            self.passwords[name] = f"pw-{os.urandom(12).hex()}"
            signer = None
            if role in ("judge", "dpo"):
                signer = self.keys[role] = SigningKey.generate()
            self.run(self.coordinator, "coordinator", "add-user", "--config",
                     str(self.coordinator_config), "--username", name, "--role", role,
                     "--agency", "city", "--password-stdin", "--as", PEOPLE[0][0],
                     *(("--signing-key", signer.public.text()) if signer else ()),
                     stdin=self.passwords[name] + "\n")
        self.start("api", self.coordinator, "coordinator", "serve", "--config",
                   str(self.coordinator_config))
        self.start_coordinator_worker()
        self.http = httpx.Client(base_url=f"https://{self.office.b_address}:{API_PORT}",
                                 verify=ssl.create_default_context(cafile=str(ca)), timeout=60)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if self.http.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            self.alive("api")
            time.sleep(0.3)
        raise AssertionError("the API did not become ready:\n" + self.log("api"))

    def start_broker(self) -> None:
        self.start("broker", self.coordinator, command=(
            "redis-server", "--port", "0", "--tls-port", str(BROKER_PORT), "--bind", "0.0.0.0",
            "--tls-cert-file", str(self.tls.certificate), "--tls-key-file", str(self.tls.key),
            "--tls-ca-cert-file", str(self.ca.certificate), "--tls-auth-clients", "no",
            "--requirepass", self.broker_password,
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--dir", str(self.broker_dir)))
        self.wait_for_log("broker", "Ready to accept connections")

    def start_coordinator_worker(self) -> None:
        self.start("coordinator-worker", self.coordinator, "coordinator", "worker", "--config",
                   str(self.coordinator_config), "--loglevel", "INFO")

    def _enrol(self, name: str, host: Host, link: Link, index: int) -> Site:
        data = self.root / name
        config = self.root / f"{name}.toml"
        config.write_text(f"""
site_id = "{name}"
data_dir = "{data}"
model_dir = "{self.model_dir}"
broker_url = "rediss://:{self.broker_password}@{link.a_address}:{BROKER_PORT}/0"
result_backend = "rediss://:{self.broker_password}@{link.a_address}:{BROKER_PORT}/1"
flower_superlink = "{link.a_address}:{FLEET_PORT}"
health_port = {NODE_HEALTH}
worker_health_port = {WORKER_HEALTH}
flower_health_address = "127.0.0.1:{FLOWER_HEALTH}"
live_view_seconds = 5
[[cameras]]
id = "gate"
source = "{CAMERA.format(seed=11 + index)}"
location = "{name} gate"
purpose = "public safety"
{ANALYTICS}""")
        settings = load_settings(config)
        initialise(settings)  # `safecity vault init`: the site's keys
        printed = json.loads(self.run(None, "node", "keys", "--config", str(config)))
        enrolled = self.http.post("/nodes", headers=self.login(PEOPLE[0][0]), json=printed)
        assert enrolled.status_code == 201, enrolled.text
        document = self.root / f"{name}-enrolment.json"
        document.write_text(enrolled.text)
        self.run(host, "node", "enrol", "--config", str(config), str(document))
        plate = ("AB12CDE", "XY99ZZZ", "LM55NOP")[index]
        yesterday = datetime.now(UTC) - timedelta(days=1)
        sightings = SightingStore(settings.stores.sightings,
                                  load_identity(settings.keys_dir).plate_key)
        trajectories = TrajectoryStore(settings.stores.trajectories,
                                       settings.trajectory_retention_days)
        try:
            sightings.add("gate", yesterday, 1, plate)
            trajectories.add_many("gate", yesterday, [
                ("person", t) for t in site_trajectories(index, 200, seed=2026,
                                                         unusual_fraction=0.02)])
        finally:
            sightings.close()
            trajectories.close()
        return Site(name, host, link, config, plate)

    def start_site(self, site: Site, camera: bool) -> None:
        config = str(site.config)
        self.start(f"{site.name}-worker", site.host, "node", "worker", "--config", config,
                   "--loglevel", "INFO")
        if camera:
            self.start(f"{site.name}-run", site.host, "node", "run", "--config", config)
        self.start(f"{site.name}-supernode", site.host, "node", "supernode", "--config", config,
                   "--port", "9094")

    # -- processes ----------------------------------------------------------------------------

    def _witness_keys(self) -> list[str]:
        return [self.run(self.coordinator, "audit", "keygen", f"witness-{i}.city.example/w",
                         "--out", str(self.root / f"witness-{i}.key"), "--witness").strip()
                for i in range(WITNESSES)]

    def start(self, name: str, host: Host, *args: str, command: tuple[str, ...] = ()) -> None:
        with (self.root / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [*host.within, *(command or (*SAFECITY, *args))], stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def alive(self, name: str) -> None:
        process = self.processes[name]
        assert process.poll() is None, f"{name} exited {process.returncode}:\n{self.log(name)}"

    def run(self, host: Host | None, *args: str, stdin: str = "") -> str:
        done = subprocess.run([*(host.within if host else ()), *SAFECITY, *args], check=False,
                              input=stdin, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"safecity {' '.join(args)}:\n{done.stdout}{done.stderr}"
        with (self.root / "commands.out").open("a") as out:  # what an admin's terminal shows
            out.write(done.stdout + done.stderr)
        return done.stdout

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for_log(self, name: str, text: str, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if text in self.log(name):
                return
            self.alive(name)
            time.sleep(0.2)
        raise AssertionError(f"{name} never said {text!r}:\n{self.log(name)[-3000:]}")

    def fetch(self, host: Host, url: str, method: str = "GET") -> tuple[int, str]:
        """``url`` from ``host`` (a node's own health endpoints listen on its loopback), TLS
        verified against the city CA."""
        done = subprocess.run([*host.within, sys.executable, "-c",
                               "import httpx, ssl, sys\n"
                               "tls = ssl.create_default_context(cafile=sys.argv[3])\n"
                               "r = httpx.request(sys.argv[1], sys.argv[2], verify=tls, "
                               "timeout=10)\n"
                               "print(r.status_code); print(r.text, end='')",
                               method, url, str(self.ca.certificate)],
                              check=False, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        status, _, body = done.stdout.partition("\n")
        return int(status), body

    def grpc_health(self, host: Host, address: str) -> str:
        """The status a gRPC health service (grpc.health.v1) on ``host`` reports."""
        done = subprocess.run([*host.within, sys.executable, "-c",
                               "import grpc, sys\n"
                               "from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g\n"
                               "stub = g.HealthStub(grpc.insecure_channel(sys.argv[1]))\n"
                               "status = stub.Check(h.HealthCheckRequest(), timeout=10).status\n"
                               "print(h.HealthCheckResponse.ServingStatus.Name(status))",
                               address], check=False, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def connect(self, host: Host, address: str, port: int) -> int:
        """0 if ``host`` opens a TCP connection to ``address``, else the errno it gets."""
        done = subprocess.run([*host.within, sys.executable, "-c",
                               "import socket, sys; s = socket.socket(); s.settimeout(5); "
                               "print(s.connect_ex((sys.argv[1], int(sys.argv[2]))))",
                               address, str(port)],
                              check=False, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return int(done.stdout)

    # -- people -------------------------------------------------------------------------------

    def login(self, name: str) -> dict[str, str]:
        token = self.http.post("/token", data={"grant_type": "password", "username": name,
                                               "password": self.passwords[name]})
        assert token.status_code == 200, token.text
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def person(self, role: str) -> str:
        return next(name for name, r in PEOPLE if r == role)

    def warrant(self, sites: list[str], targets: list[str]) -> str:
        """A plate watchlist warrant drafted by the police and signed by the judge."""
        now = datetime.now(UTC)
        police = self.login(self.person("police_analyst"))
        drafted = self.http.post("/warrants", headers=police, json={
            "kind": "plate_watchlist", "purpose_code": "stolen-vehicle", "sites": sites,
            "cameras": ["gate"], "max_uses": 5, "targets": targets,
            "window": {"start": (now - timedelta(days=2)).isoformat(), "end": now.isoformat()},
            "not_before": (now - timedelta(minutes=5)).isoformat(),
            "expires_at": (now + timedelta(days=1)).isoformat(),
            "case_number": "MH-2026-7", "justification": "vehicles reported stolen"})
        assert drafted.status_code == 201, drafted.text
        warrant = drafted.json()
        import base64

        signature = self.keys["judge"].sign(base64.b64decode(warrant["payload"]))
        signed = self.http.post(f"/warrants/{warrant['warrant_id']}/signatures",
                                headers=self.login(self.person("judge")),
                                json={"role": "judge",
                                      "signature": base64.b64encode(signature).decode()})
        assert signed.status_code == 200 and signed.json()["status"] == "registered", signed.text
        return str(warrant["warrant_id"])

    def query(self, warrant_id: str, targets: list[str]) -> dict[str, Any]:
        """Submit a watchlist query and wait for every node's final status."""
        police = self.login(self.person("police_analyst"))
        sent = self.http.post("/queries", headers=police,
                              json={"warrant_id": warrant_id, "targets": targets})
        assert sent.status_code == 202, sent.text
        query_id = sent.json()["query_id"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            view = self.http.get(f"/queries/{query_id}", params={"wait": 30},
                                 headers=police).json()
            if view["status"] == "complete":
                return dict(view)
        raise AssertionError(f"query {query_id} never completed: {view}")

    def alerts(self) -> list[dict[str, Any]]:
        operator = self.login(self.person("site_operator"))
        return [a for state in ("open", "logged") for a in self.http.get(
            "/alerts", headers=operator, params={"state": state, "limit": 1000}).json()["alerts"]]

    def train(self, min_nodes: int, *options: str) -> dict[str, Any]:
        out = self.run(self.coordinator, "fl", "start", "trajectory", "--rounds", "1",
                       "--epsilon", "2", "--delta", "4e-6", "--min-nodes", str(min_nodes),
                       "--as", PEOPLE[0][0],
                       "--config",
                       str(self.coordinator_config), *options)
        return dict(json.loads(out))

    # -- taking it down -----------------------------------------------------------------------

    def close(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)
        if getattr(self, "http", None) is not None:
            self.http.close()
        if self.postgres is not None:
            self.postgres.remove()
        self.network.remove()
