"""Follow docs/deploy.md on one machine and check that the city it builds works (issue 24).

    python docs/deploy_check.py [--keep DIR]

The commands and the two configuration files are taken from deploy.md itself, in its order, so
the page and this check cannot drift apart: every command line of the page's code blocks must be
one this script knows how to run here (a new command fails the check until it is taught), and
the TOML blocks are the configuration files, with only what one machine needs changed:

- host names and addresses become 127.0.0.1 / localhost, paths move under one folder (``/etc``,
  ``/var/lib``, ``/opt/safecity/models``), every port is a free one (the coordinator and the
  site share one machine), placeholders (PASSWORD, ``ed25519:...``, ``x25519:...``, witness
  keys) become the values the page's own commands print;
- ``pip install`` is this checkout's virtual environment (``sys.executable``), the models are
  copied from the installed cache before the page's ``models install`` checks them (no
  download), there is no ``useradd`` (one user);
- PostgreSQL is the one at 127.0.0.1:5432 (a fresh database, trust, dropped afterwards); Redis is
  started as the page says (TLS only, a password, append-only) on a free port;
- the witnesses listen on loopback over HTTPS, each with the certificate the page's ``pki
  issue`` line made it from the city CA (issued for ``localhost``, the name the coordinator's
  ``[[witnesses]]`` URLs reach them by here); the coordinator checks them against ``city_ca``;
- ``housekeeping_seconds`` is 10, so that the beat has the witnesses cosign the log's newest
  checkpoint within the check (the page leaves it at its default, 15 minutes);
- the site's camera is a short synthetic clip (90 s at 4 frames a second) instead of
  ONVIF/RTSP (camera discovery needs cameras: ``tests/e2e/test_onvif_on_a_network.py``), with
  a restricted-area rule so that it makes events;
- ``systemctl enable --now UNIT`` runs the unit's ``ExecStart`` with its ``Environment`` from
  docs/systemd/ in the background, ``systemctl restart`` stops and starts it again.

The page's commands run in the page's order, each once what it needs has been made (a witness
serves only after ``coordinator init`` printed the log key: the check fails otherwise), and the
site is enrolled with the document ``node keys`` printed, posted unchanged as the page says.

It passes when the coordinator is initialised, the admin, a judge and a DPO (each with the key
``warrant keygen`` made) registered, the witnesses' quorum cosigned a checkpoint over HTTPS
(``/audit/checkpoint/witnessed``), the site enrolled, the SuperNode running (not Flower's exit
305), an event of the clip reached the coordinator as an alert, and every health endpoint
answers 200. Every process is stopped at the end; ``--keep`` leaves the folder (logs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import tomli_w

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "deploy.md"
UNITS = REPO / "docs" / "systemd"
PG_ADMIN = os.environ.get("SAFECITY_TEST_PG",
                          "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
CLIP = "synthetic:seed=7,seconds=90,width=320,height=180,people=3,vehicles=1,fps=4,live=1"
RULES = {"detector": "motion",
         "zones": [{"id": "street", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
         "rules": [{"id": "no-entry", "type": "restricted_area", "zone": "street"}]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


STARTED = time.monotonic()


def listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), 1):
        return True


def say(text: str) -> None:
    print(f"deploy_check [{time.monotonic() - STARTED:5.1f} s]: {text}", flush=True)


def doc_blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced code block of deploy.md, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", DOC.read_text(), re.M | re.S)


COMMAND_WORDS = ("safecity", "/opt/", "SAFECITY_", "python3", "useradd", "systemctl", "curl",
                 "sudo")


def doc_commands() -> list[str]:
    """The command lines of the page's shell blocks (continuations joined, comments cut)."""
    out = []
    for language, text in doc_blocks():
        if language == "toml":
            continue
        for line in text.replace("\\\n", " ").splitlines():
            if line.split(" ", 1)[0].startswith(COMMAND_WORDS):
                out.append(re.sub(r"\s+#.*$", "", line).strip())
    return out


def witness_hosts() -> list[str]:
    """The host names of the page's ``[[witnesses]]``."""
    return [str(urlsplit(w["url"]).hostname) for w in doc_toml("database_url")["witnesses"]]


def doc_toml(key: str) -> dict[str, Any]:
    """The page's TOML block that sets ``key``."""
    for language, text in doc_blocks():
        if language == "toml" and re.search(rf"^{key} =", text, re.M):
            return tomllib.loads(text.replace("PASSWORD", "placeholder"))
    raise SystemExit(f"deploy_check: no TOML block with {key} in {DOC}")


class Deployment:
    def __init__(self, root: Path):
        self.root = root
        self.etc, self.var = root / "etc", root / "var"
        self.offline, self.models = root / "offline-machine", root / "models"
        for folder in (self.etc, self.offline):
            folder.mkdir(parents=True)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.port = {name: free_port() for name in (
            "api", "metrics", "worker", "beat", "superlink", "fleet", "flower_health",
            "broker", "node_health", "node_worker", "supernode_health", "supernode")}
        self.broker_password = secrets.token_hex(16)
        self.passwords: dict[str, str] = {}
        self.witness_keys: list[str] = []
        self.witness_ports = [free_port() for _ in witness_hosts()]
        self.database = f"safecity_deploy_{secrets.token_hex(6)}"
        self.log_key = ""

    # -- the page's words, on this machine ---------------------------------------------------

    def here(self, command: str) -> str:
        for doc, local in (("/opt/safecity/bin/safecity", "safecity"),
                           ("/opt/safecity/models", str(self.models)),
                           ("/etc/safecity", str(self.etc)), ("/var/lib/safecity", str(self.var)),
                           ("coordinator.city.example:8443", f"localhost:{self.port['api']}"),
                           ("coordinator.city.example", "localhost"),
                           ("10.20.0.1", "127.0.0.1"),
                           ("10.30.0.5:9100", f"127.0.0.1:{self.port['node_health']}")):
            command = command.replace(doc, local)
        return command

    def argv(self, command: str) -> tuple[dict[str, str], list[str]]:
        words = shlex.split(self.here(command))
        env = {}
        while words and re.match(r"^[A-Z_]+=", words[0]):
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        if words and words[0] == "safecity":
            words = [sys.executable, "-c", "from nodes.cli import main; main()", *words[1:]]
        return env, words

    def run(self, command: str, stdin: str = "", cwd: Path | None = None) -> str:
        env, words = self.argv(command)
        say("$ " + self.here(command))
        done = subprocess.run(words, input=stdin, capture_output=True, text=True,
                              cwd=cwd or self.root, env={**os.environ, **env}, timeout=300,
                              check=False)
        if done.returncode != 0:
            raise SystemExit(f"deploy_check: failed ({done.returncode}): {command}\n"
                             f"{done.stdout}{done.stderr}")
        return done.stdout

    def start(self, name: str, words: list[str], env: dict[str, str] | None = None) -> None:
        say(f"starting {name}: {' '.join(words).replace(self.broker_password, '***')}")
        with (self.root / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                words, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.var, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def unit(self, name: str) -> None:
        """The systemd unit's ExecStart with its Environment, in the background."""
        text = (UNITS / f"{name}.service").read_text()
        execs = re.findall(r"^ExecStart=(.*)$", text, re.M)
        env: dict[str, str] = dict(
            e.split("=", 1) for e in re.findall(r"^Environment=(\S+)$", text, re.M))
        assert len(execs) == 1, name
        extra, words = self.argv(execs[0])
        env = {k: self.here(v) for k, v in {**env, **extra}.items()}
        if name == "safecity-supernode":  # its ClientApp port: the coordinator's host is here
            words += ["--port", str(self.port["supernode"])]
        self.start(name, words, env)

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait(self, condition: Callable[[], object], what: str, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except (httpx.TransportError, OSError, ssl.SSLError):
                pass
            for name, process in self.processes.items():
                if process.poll() is not None and name != "safecity-supernode":
                    raise SystemExit(f"deploy_check: {name} exited {process.returncode}:\n"
                                     f"{self.log(name)[-4000:]}")
            time.sleep(0.5)
        raise SystemExit(f"deploy_check: {what} within {seconds:.0f} s; logs in {self.root}")

    # -- the page's two configuration files -----------------------------------------------

    def coordinator_toml(self) -> None:
        config = doc_toml("database_url")
        ca = self.etc / "ca.pem"
        broker = (f"rediss://:{self.broker_password}@localhost:{self.port['broker']}/{{db}}"
                  f"?ssl_cert_reqs=required&ssl_ca_certs={ca}")
        params = dict(item.split("=", 1) for item in PG_ADMIN.split())
        config.update({
            "data_dir": str(self.var),
            "database_url": f"postgresql+psycopg://{params.get('user', 'postgres')}@"
                            f"{params.get('host', '127.0.0.1')}:{params.get('port', '5432')}/"
                            f"{self.database}",
            "broker_url": broker.format(db=0), "result_backend": broker.format(db=1),
            "host": "127.0.0.1", "port": self.port["api"], "workers": 2,
            "metrics_address": f"127.0.0.1:{self.port['metrics']}",
            "worker_health_port": self.port["worker"], "beat_health_port": self.port["beat"],
            "flower_superlink": f"127.0.0.1:{self.port['superlink']}",
            "flower_fleet_address": f"127.0.0.1:{self.port['fleet']}",
            "flower_health_address": f"127.0.0.1:{self.port['flower_health']}",
            "housekeeping_seconds": 10,
            "witnesses": [{**doc, "url": urlsplit(doc["url"])._replace(
                netloc=f"localhost:{port}").geturl(), "key": key}
                for doc, port, key in zip(config["witnesses"], self.witness_ports,
                                          self.witness_keys, strict=True)]})
        for name in ("tls_certificate", "tls_private_key", "city_ca", "flower_ca",
                     "flower_certificate", "flower_private_key"):
            config[name] = self.here(config[name])
        (self.etc / "coordinator.toml").write_text(tomli_w.dumps(config))

    def node_toml(self, custodians: list[dict[str, str]]) -> None:
        config = doc_toml("site_id")
        camera = config["cameras"][0]
        config.update({
            "data_dir": str(self.var / "site"),
            "broker_url": f"rediss://:{self.broker_password}@localhost:{self.port['broker']}/0",
            "result_backend": f"rediss://:{self.broker_password}@localhost:"
                              f"{self.port['broker']}/1",
            "flower_superlink": f"localhost:{self.port['fleet']}",
            "health_port": self.port["node_health"], "health_host": "127.0.0.1",
            "worker_health_port": self.port["node_worker"],
            "flower_health_address": f"127.0.0.1:{self.port['supernode_health']}",
            "custodians": custodians,
            "cameras": [{"id": camera["id"], "source": CLIP, "location": camera["location"],
                         "purpose": camera["purpose"], "analytics": RULES}]})
        (self.etc / "node.toml").write_text(tomli_w.dumps(config))

    # -- the page's commands, one by one --------------------------------------------------

    def follow(self) -> None:
        for command in doc_commands():
            words = command.split()
            if words[0] == "python3" and "pip install" in command:
                say(f"installed: this checkout's environment ({sys.executable})")
            elif "models install" in command:
                source = Path(os.environ.get("SAFECITY_MODEL_DIR")
                              or Path.home() / ".cache" / "safecity" / "models")
                shutil.copytree(source, self.models)  # what the download would bring
                for path in self.models.iterdir():
                    path.chmod(0o600)  # as a root umask and write_atomic would leave them
                self.run(command)
                private = [p.name for p in self.models.iterdir() if p.stat().st_mode & 0o004 == 0]
                assert not private, f"models the service user cannot read: {private}"
            elif words[0] == "useradd":
                self.run(re.sub(r" -o \S+", "", command.split("&&", 1)[1]))
            elif words[:3] == ["safecity", "pki", "issue"] and \
                    words[words.index("--name") + 1].startswith("witness"):
                self.issue_witness_certificates(command)
            elif words[:3] in (["safecity", "pki", "init"], ["safecity", "pki", "issue"]):
                self.run(command, cwd=self.offline)
                if words[2] == "issue":
                    for name in ("coordinator.pem", "coordinator.key"):
                        shutil.copy(self.offline / "certs" / name, self.etc / name)
                    shutil.copy(self.offline / "city-ca" / "ca.pem", self.etc / "ca.pem")
            elif words[:3] == ["safecity", "audit", "keygen"]:
                for i, host in enumerate(witness_hosts()):
                    self.witness_keys.append(self.run(
                        command.replace(words[3], host).replace("witness.key",
                                                                f"witness-{i}.key")).strip())
            elif words[:4] == ["safecity", "audit", "witness", "serve"]:
                if not self.log_key:  # the page must be runnable in its order
                    raise SystemExit("deploy_check: deploy.md runs `audit witness serve` before "
                                     "`coordinator init` has printed the log key it needs")
                self.start_witnesses(command)
            elif words[:3] == ["safecity", "coordinator", "init"]:
                self.start_broker()
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{self.database}"')
                self.coordinator_toml()
                self.log_key = json.loads(self.run(command))["log_key"]
            elif words[:3] == ["safecity", "coordinator", "add-user"]:
                self.add_user(command)
            elif words[0] == "systemctl":
                for name in words[3 if words[1] == "enable" else 2:]:
                    registered = self.log(name).count("SuperNode key(s) registered")
                    if words[1] == "restart":
                        self.stop(name)
                    self.unit(name)
                    if name == "safecity-superlink":
                        self.wait(lambda n=registered: self.log("safecity-superlink").count(
                            "SuperNode key(s) registered") > n,
                            "the SuperLink registered the node keys")
            elif words[0] == "curl":
                say("$ " + self.here(command))
                self.wait(lambda c=command: self.curl(c), f"{command} answered 200", 120)
            elif words[:4] == ["safecity", "node", "cameras", "discover"] or \
                    words[:4] in (["safecity", "node", "cameras", "credentials"],
                                  ["safecity", "node", "cameras", "lookup"]):
                say(f"skipped (no ONVIF camera on this machine): {command}")
            elif words[:3] == ["safecity", "vault", "init"]:
                custodians = []
                for name in ("court", "dpo", "operator"):
                    custodians.append(json.loads(self.run(
                        f"safecity vault keygen {name} --out {self.root / name}.key")))
                self.node_toml(custodians)
                self.run(command)
            elif words[:3] == ["safecity", "node", "keys"]:
                self.enrol_at_the_coordinator(self.run(command))
            elif words[:3] == ["safecity", "node", "enrol"]:
                self.run(command, cwd=self.root)
            else:
                raise SystemExit(f"deploy_check: deploy.md has a command this check does not "
                                 f"know how to run on one machine: {command}")

    def start_broker(self) -> None:
        (self.var / "redis").mkdir(parents=True)
        self.start("redis", [
            "redis-server", "--port", "0", "--tls-port", str(self.port["broker"]),
            "--bind", "127.0.0.1", "--tls-cert-file", str(self.etc / "coordinator.pem"),
            "--tls-key-file", str(self.etc / "coordinator.key"),
            "--tls-ca-cert-file", str(self.etc / "ca.pem"), "--tls-auth-clients", "no",
            "--requirepass", self.broker_password, "--appendonly", "yes",
            "--appendfsync", "always", "--save", "", "--dir", str(self.var / "redis")])
        self.wait(lambda: "Ready to accept connections" in self.log("redis"), "Redis started")

    def issue_witness_certificates(self, command: str) -> None:
        """The page's line, once per witness host (as it says), for the name the witness is
        reached by here; each pair installed where the page's `witness serve` reads it."""
        for i, host in enumerate(witness_hosts()):
            local = re.sub(r"--host \S+", "--host localhost",
                           re.sub(r"--name \S+", f"--name {host}", command))
            self.run(local, cwd=self.offline)
            shutil.copy(self.offline / "certs" / f"{host}.pem", self.etc / f"witness-{i}.pem")
            shutil.copy(self.offline / "certs" / f"{host}.key",
                        self.etc / f"witness-{i}.key.pem")

    def start_witnesses(self, command: str) -> None:
        if "--tls-certificate" not in command:
            raise SystemExit("deploy_check: deploy.md serves a witness without TLS")
        for i, port in enumerate(self.witness_ports):
            local = command.replace("witness.pem", f"witness-{i}.pem").replace(
                "witness.key", f"witness-{i}.key").replace("witness.json", f"witness-{i}.json")
            local = re.sub(r"--log-key '[^']*'", f"--log-key '{self.log_key}'", local)
            local = local.replace("--host 0.0.0.0", "--host 127.0.0.1").replace(
                "--port 8090", f"--port {port}")
            env, words = self.argv(local)
            self.start(f"witness-{i}", words, env)
        for port in self.witness_ports:
            self.wait(lambda p=port: listening(p), f"the witness on port {port} listens")

    def add_user(self, command: str) -> None:
        username = re.search(r"--username (\S+)", command)
        assert username
        people = [command]
        if "--role judge" in command:  # the page's example; a DPO is registered the same way
            people.append(command.replace(username.group(1), "dpo-1").replace(
                "--role judge", "--role dpo").replace("--agency court", "--agency dpo-office"))
            people.append(re.sub(r" --signing-key \S+", "", command.replace(
                username.group(1), "operator-1").replace("--role judge",
                                                         "--role site_operator")))
        for person in people:
            name = re.search(r"--username (\S+)", person)
            assert name
            line = person
            if "--signing-key" in person:  # `safecity warrant keygen` on their own machine
                public = self.run(f"safecity warrant keygen --out {self.root / name.group(1)}"
                                  ".key").strip()
                line = re.sub(r"--signing-key \S+", f"--signing-key {public}", person)
            self.passwords[name.group(1)] = secrets.token_urlsafe(16)
            self.run(line + " --password-stdin", stdin=self.passwords[name.group(1)] + "\n")

    def curl(self, command: str) -> bool:
        _, words = self.argv(command)
        words = [words[0], "-sf", "-o", "/dev/null", *words[1:]]
        return subprocess.run(words, capture_output=True, check=False).returncode == 0

    # -- the city admin at the API -----------------------------------------------------------

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=f"https://localhost:{self.port['api']}", timeout=60,
                            verify=ssl.create_default_context(cafile=str(self.etc / "ca.pem")))

    def token(self, client: httpx.Client, username: str) -> dict[str, str]:
        answer = client.post("/token", data={"grant_type": "password", "username": username,
                                             "password": self.passwords[username]})
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def enrol_at_the_coordinator(self, printed: str) -> None:
        """`POST /nodes` as admin with the document `node keys` printed, as printed (the page:
        "enrols it as printed"): its bytes unchanged, nothing picked or added."""
        with self.api() as client:
            enrolled = client.post("/nodes", content=printed.encode(), headers={
                **self.token(client, "admin"), "Content-Type": "application/json"})
        if enrolled.status_code != 201:
            raise SystemExit(f"deploy_check: POST /nodes: {enrolled.status_code} "
                             f"{enrolled.text}")
        (self.root / "enrolment.json").write_text(enrolled.text)
        say("enrolled at the coordinator: POST /nodes 201")

    # -- what must hold at the end ----------------------------------------------------------

    def check(self) -> None:
        verify = ssl.create_default_context(cafile=str(self.etc / "ca.pem"))
        health = {"API": f"https://localhost:{self.port['api']}/readyz"}
        for name in ("worker", "beat", "node_health", "node_worker"):
            health[name] = f"http://127.0.0.1:{self.port[name]}/readyz"
        for name, url in health.items():
            self.wait(lambda u=url: httpx.get(u, verify=verify, timeout=10).status_code == 200,
                      f"{name} ready ({url})", 60)
            say(f"{name}: 200 {url}")
        with self.api() as client:
            self.wait(lambda: client.get("/audit/checkpoint/witnessed").status_code == 200,
                      "the witnesses' quorum cosigned a checkpoint over HTTPS", 120)
            note = client.get("/audit/checkpoint/witnessed").text
            names = sorted({line.split()[1] for line in note.splitlines()
                            if line.startswith("\u2014 ") and line.split()[1] in witness_hosts()})
            say(f"witnessed over HTTPS: cosigned by {', '.join(names)}")
            operator = self.token(client, "operator-1")
            self.wait(lambda: client.get("/alerts", headers=operator).json()["alerts"],
                      "an event of the clip reached the coordinator as an alert", 120)
            alerts = client.get("/alerts", headers=operator).json()["alerts"]
            say(f"alerts at the coordinator: {len(alerts)}, e.g. {alerts[-1].get('type')} "
                f"at {alerts[-1].get('camera')}")
        supernode = self.processes["safecity-supernode"]
        # the SuperLink took the node's key and activated it (a refused SuperNode exits)
        self.wait(lambda: "SuperNode ID: " in self.log("safecity-supernode")
                  or supernode.poll() is not None, "the SuperNode joined the SuperLink", 60)
        assert supernode.poll() is None, (
            f"the SuperNode exited {supernode.returncode}:\n{self.log('safecity-supernode')}")
        say("SuperNode running")

    def close(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="safecity-deploy-"))
    started = time.monotonic()
    deployment = Deployment(root)
    try:
        deployment.follow()
        deployment.check()
    finally:
        deployment.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    say(f"passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
