"""The city half of the demo: a coordinator on its embedded defaults, run and used the way a city
would (its own processes, HTTP, the CLI), with the demo node enrolled and answering a
warrant-gated plate watchlist from its own queue, then training the unusual-behaviour model
with a second site (federated, DP-SGD, SecAgg+) and installing it. The node side never imports
the coordinator: it talks to it as a site does."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from audit.bundle import fetch_bundle
from audit.cosignature import CosignerKey
from audit.keys import load_log_key
from audit.note import parse_note
from audit.verify import verify_bundle
from contract.tasks import CLIP_TASK, EVIDENCE_TASK, LIVE_QUEUE
from kernel.atomic_file import write_atomic
from kernel.errors import SafecityError
from nodes.config import NodeSettings
from nodes.enrolment import parse_enrolment, save_enrolment
from nodes.enrolment_request import enrolment_request
from nodes.event_sender import ClipSender, EventSender, EvidenceSender, celery_publisher
from nodes.events import EventStore
from nodes.identity import load_identity
from nodes.vault.export import verify_export
from privacy.sealing import RecipientKey
from privacy.signing import SigningKey, write_secret
from simulation.demo_federation import enrol_second_site, federate

SAFECITY = [sys.executable, "-c", "from nodes.cli import main; main()"]
PEOPLE = (("admin", "admin", "city"), ("officer-7", "police_analyst", "city-pd"),
          ("judge-1", "judge", "court"), ("dpo-1", "dpo", "city"),
          ("operator-1", "site_operator", "city"), ("planner-1", "planner", "city"))


# Three institutions each run a witness of the city log; a node believes a checkpoint that two
# of them cosigned.
WITNESSES = ("court.city.example/witness", "dpo-office.city.example/witness",
             "civil-society.city.example/witness")
WITNESS_QUORUM = 2

Progress = Callable[[str], None]  # told one line as each stage of the demo starts
Hold = Callable[[dict[str, Any]], None]  # called with the results while the coordinator serves


# The demo city's basemap (an invented town centre; GeoJSON, [longitude, latitude], RFC 7946):
# what the city would provide as ``basemap_file``, drawn offline under the cameras on the
# control room's map. The demo's cameras stand on it (simulation.demo.CAMERAS, the second
# site's hall in demo_federation).
def _square(name: str, west: float, south: float, east: float, north: float
            ) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"name": name}, "geometry": {
        "type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                            [west, north], [west, south]]]}}


OUTLINE = {"type": "FeatureCollection", "features": [
    _square("Town centre", 7.9940, 49.9970, 8.0070, 50.0045),
    {"type": "Feature", "properties": {"name": "High Street"}, "geometry": {
        "type": "LineString", "coordinates": [[7.9960, 50.0000], [8.0060, 50.0000]]}},
    _square("Market Square", 7.9990, 50.0010, 8.0025, 50.0025),
    _square("North Hall", 8.0040, 50.0030, 8.0056, 50.0036)]}


def broker_urls(folder: Path) -> tuple[str, str]:
    """The embedded broker and result store: SQLite files, no server."""
    return (f"sqla+sqlite:///{(folder / 'broker.sqlite').as_posix()}",
            f"db+sqlite:///{(folder / 'results.sqlite').as_posix()}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str, stdin: str = "") -> str:
    done = subprocess.run([*SAFECITY, *args], input=stdin, capture_output=True, text=True,
                          check=False, timeout=900)
    if done.returncode != 0:
        raise SafecityError(f"safecity {args[0]} {args[1]} failed: {done.stderr.strip()}")
    return done.stdout


@contextmanager
def _process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with _processes((args, log)) as (process,):
        yield process


@contextmanager
def _processes(*started: tuple[list[str], Path]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Safecity commands in the background, each logging to its file; stopped together (all
    told to stop, then each waited for), so that their shutdowns overlap."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for args, log in started:
            with log.open("ab") as handle:
                processes.append(subprocess.Popen(
                    [*SAFECITY, *args], stdout=handle, stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"}))
        yield processes
    finally:
        for process in processes:
            process.terminate()
        deadline = time.monotonic() + 30
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class Evidence:
    """The clip the demo exports from the vault under an evidence-export warrant."""

    camera: str
    start: datetime
    end: datetime


def run_city(out: Path, node: NodeSettings, node_config: Path, watchlist: list[str],
             cameras: list[str], evidence: Evidence, progress: Progress, hold: Hold
             ) -> dict[str, Any]:
    """Run the city; ``hold`` gets the results before the coordinator stops (to print them,
    or to keep the portal served until the person at the terminal stops it)."""
    folder = out / "coordinator"
    port = _free_port()
    config = out / "coordinator.toml"
    broker, backend = broker_urls(folder)
    witnesses = _witness_keys(out / "witnesses")
    outline = out / "demo-city.geojson"
    write_atomic(outline, json.dumps(OUTLINE, indent=1).encode())
    config.write_text(f'data_dir = "{folder.as_posix()}"\nport = {port}\n'
                      f'metrics_address = "127.0.0.1:{_free_port()}"\n'
                      f'broker_url = "{broker}"\nresult_backend = "{backend}"\n'
                      f'witness_quorum = {WITNESS_QUORUM}\n'
                      f'basemap_file = "{outline.as_posix()}"\n'
                      # the record of processing names them (GDPR Art. 30(1)(a)); invented
                      'controller = {name = "Demo City, Office of Public Order", '
                      'address = "1 Town Hall Square, Demo City", '
                      'email = "public-order@demo-city.example"}\n'
                      'data_protection_officer = {name = "Demo City Data Protection Officer", '
                      'email = "dpo@demo-city.example"}\n'
                      # inline, not [[witnesses]] tables: the federation appends keys later
                      'witnesses = [' + ", ".join(
                          f'{{url = "http://127.0.0.1:{w["port"]}", key = "{w["vkey"]}"}}'
                          for w in witnesses) + ']\n')
    progress("coordinator: creating its database and keys, and the demo's people")
    keys = {"judge": SigningKey.generate(), "dpo": SigningKey.generate()}
    passwords = {name: secrets.token_urlsafe(18) for name, _, _ in PEOPLE}
    logins = folder / "demo-logins.json"  # to sign in to the pages afterwards; mode 0600
    folder.mkdir(parents=True, exist_ok=True)
    # The judge's and DPO's signing keys as the pages load them ("sign with your key file"),
    # mode 0600 like every key file: the demo's people can then sign in the browser.
    key_files = {}
    for name, role, _ in PEOPLE:
        if role in keys:
            key_files[name] = folder / f"{name}.key"
            keys[role].save(key_files[name])
    write_secret(logins, json.dumps(
        {name: {"role": role, "password": passwords[name],
                **({"key_file": str(key_files[name])} if name in key_files else {})}
         for name, role, _ in PEOPLE}, indent=2).encode())
    log_key = json.loads(_run("coordinator", "init", "--config", str(config)))["log_key"]
    for name, role, agency in PEOPLE:
        signer = keys.get(role)
        _run("coordinator", "add-user", "--config", str(config), "--username", name,
             "--role", role, "--agency", agency, "--password-stdin", "--as", PEOPLE[0][0],
             *(["--signing-key", signer.public.text()] if signer else []),
             stdin=passwords[name] + "\n")
    base = f"http://127.0.0.1:{port}"
    progress(f"witnesses: starting {len(witnesses)} (a checkpoint needs {WITNESS_QUORUM} "
             "cosignatures)")
    with _processes(*(
            (["audit", "witness", "serve", "--key", str(w["key"]), "--log-key", log_key,
              "--state", str(w["state"]), "--port", str(w["port"])], w["log"])
            for w in witnesses)):
        files = {"key_files": {name: str(path) for name, path in key_files.items()}}
        return _serve_city(out, config, base, node, node_config, watchlist, cameras, keys,
                           passwords, logins, evidence, progress,
                           lambda city: hold(city | files)) | files


def _witness_keys(folder: Path) -> list[dict[str, Any]]:
    """Each witness's key (its own file, as each institution keeps its own), port and state."""
    folder.mkdir(parents=True, exist_ok=True)
    found = []
    for number, name in enumerate(WITNESSES):
        key = folder / f"witness-{number}.key"
        vkey = _run("audit", "keygen", name, "--out", str(key), "--witness").strip()
        found.append({"key": key, "vkey": vkey, "port": _free_port(),
                      "state": folder / f"witness-{number}-state.json",
                      "log": folder / f"witness-{number}.log"})
    return found


def _serve_city(out: Path, config: Path, base: str, node: NodeSettings, node_config: Path,
                watchlist: list[str], cameras: list[str], keys: dict[str, SigningKey],
                passwords: dict[str, str], logins: Path, evidence: Evidence, progress: Progress,
                hold: Hold) -> dict[str, Any]:
    progress(f"coordinator: starting at {base}")
    with _process(["coordinator", "serve", "--config", str(config)], out / "coordinator.log"), \
            httpx.Client(base_url=base, timeout=60) as http:
        _wait_for(http)
        progress("coordinator: enrolling the demo node and a second site (north-hall)")

        def login(name: str) -> dict[str, str]:
            token = http.post("/token", data={"grant_type": "password", "username": name,
                                              "password": passwords[name]})
            token.raise_for_status()
            return {"Authorization": f"Bearer {token.json()['access_token']}"}

        enrolled = http.post("/nodes", headers=login("admin"),
                             json=enrolment_request(node))  # as `safecity node keys` prints it
        enrolled.raise_for_status()
        enrolment = parse_enrolment(enrolled.text, "enrolment")
        save_enrolment(node.data_dir, enrolment)
        second_site = enrol_second_site(out, http, login("admin"))
        with _processes((["node", "worker", "--config", str(node_config), "--loglevel",
                          "WARNING"], out / "node-worker.log"),
                        (["coordinator", "worker", "--config", str(config), "--loglevel",
                          "WARNING"], out / "coordinator-worker.log")):
            progress(f"watchlist: the judge signs a warrant for {len(watchlist)} plates; "
                     "the node searches its sightings")
            result = _watchlist(http, login, keys["judge"], watchlist, node.site_id, cameras)
            progress("evidence: the judge signs an export warrant; the node exports the clip "
                     "from its vault")
            result["evidence"] = _evidence(http, login, keys["judge"], node, node_config, out,
                                           evidence, enrolment.node_id)
            progress("control room: the node sends its anonymous events as alerts")
            result |= _alerts(http, login("operator-1"), node, enrolment.node_id,
                              broker_urls(out / "coordinator")[0])
            progress("control room: an operator asks for one alert's clip; the node answers "
                     "the logged request with its redacted frames")
            result["clip"] = _clip(http, login("operator-1"), node, enrolment.node_id,
                                   broker_urls(out / "coordinator")[0],
                                   result["incident_evidence"])
            progress("planner: hourly visit counts, answered with differential privacy")
            question, answered = _aggregate(http, login("planner-1"), node.site_id)
            result |= answered
            result["map"] = _map(http, login("operator-1"))
            progress("federated learning: two sites train the unusual-behaviour model "
                     "(the longest step, a few minutes)")
            result |= federate(out, config, node, node_config, second_site, _processes, _run)
        # the second site's part of the planner's question, past its deadline by now, logged
        _settle_aggregate(http, login("planner-1"), question)
        progress("audit log: verifying it against the key the node pinned")
        # Anyone can check the log the way the node does: against the key it pinned.
        bundle = fetch_bundle(lambda path: http.get(path).json())
        report = verify_bundle(bundle, enrolment.log())
        published = http.get("/portal/report.json").json()["report"]
        witnessed = http.get("/audit/checkpoint/witnessed")
        note = witnessed.text if witnessed.status_code == 200 else ""
        cosigned = [w.name for w in enrolment.witnesses() if note and _cosigns(w, note)]
        result |= {"audit_entries": len(bundle.entries), "audit_verified": report.ok,
                   "witnesses": {"pinned": len(enrolment.witness_keys),
                                 "quorum": enrolment.witness_quorum,
                                 "witnessed_size": int(note.split("\n")[1]) if note else 0,
                                 "cosigned_by": cosigned},
                   "coordinator": base, "config": str(config), "logins": str(logins),
                   "portal": {"address": f"{base}/portal",
                              "checkpoint_size": published["checkpoint"]["size"],
                              "searches": _total(published["searches_by_purpose"]),
                              "warrants": _total(published["warrants_by_month"]),
                              "trainings": len(published["trainings"])}}
        hold(result)
        return result


def _cosigns(witness: CosignerKey, checkpoint: str) -> bool:
    try:
        witness.verify(parse_note(checkpoint))
    except SafecityError:
        return False
    return True


def _total(by_month: dict[str, dict[str, int]]) -> int:
    return sum(sum(counts.values()) for counts in by_month.values())


def _wait_for(http: httpx.Client) -> None:
    for _ in range(300):
        try:
            if http.get("/openapi.json").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SafecityError("the coordinator did not start; see coordinator.log")


def _registered(http: httpx.Client, login: Any, judge: SigningKey, draft: dict[str, Any]
                ) -> dict[str, Any]:
    """A police analyst drafts a warrant, the judge signs it; the coordinator registers it."""
    drafted = http.post("/warrants", headers=login("officer-7"), json=draft)
    drafted.raise_for_status()
    warrant = drafted.json()
    signature = base64.b64encode(judge.sign(base64.b64decode(warrant["payload"]))).decode()
    signed = http.post(f"/warrants/{warrant['warrant_id']}/signatures",
                       headers=login("judge-1"), json={"role": "judge", "signature": signature})
    signed.raise_for_status()
    return dict(signed.json())


def _watchlist(http: httpx.Client, login: Any, judge: SigningKey, watchlist: list[str],
               site: str, cameras: list[str]) -> dict[str, Any]:
    now = datetime.now(UTC)
    police = login("officer-7")
    warrant = _registered(http, login, judge, {
        "kind": "plate_watchlist", "purpose_code": "stolen-vehicle", "sites": [site],
        "cameras": cameras, "max_uses": 1, "targets": watchlist,
        "window": {"start": (now - timedelta(hours=1)).isoformat(),
                   "end": (now + timedelta(minutes=10)).isoformat()},
        "not_before": (now - timedelta(minutes=5)).isoformat(),
        "expires_at": (now + timedelta(days=1)).isoformat(),
        "case_number": "DEMO-2026-1", "justification": "vehicles reported stolen"})
    submitted = http.post("/queries", headers=police, json={
        "warrant_id": warrant["warrant_id"], "targets": watchlist})
    submitted.raise_for_status()
    result = http.get(f"/queries/{submitted.json()['query_id']}", params={"wait": 60},
                      headers=police).json()
    reused = http.post("/queries", headers=police, json={
        "warrant_id": warrant["warrant_id"], "targets": watchlist})
    return {"warrant": warrant["warrant_id"], "watchlist": len(watchlist),
            "node_status": [n["status"] for n in result["nodes"]],
            "hits": [{k: h[k] for k in ("target", "camera", "time", "sighting_id")}
                     for h in result.get("hits", [])],
            "second_use": reused.json().get("code") if reused.status_code >= 400 else "allowed"}


def _evidence(http: httpx.Client, login: Any, judge: SigningKey, node: NodeSettings,
              node_config: Path, out: Path, clip: Evidence, node_id: str) -> dict[str, Any]:
    """A judge signs an evidence-export warrant for one clip; the officer takes it, its audit
    receipt and opening to the site, where `safecity vault export` checks them as a query is
    checked; the police recipient verifies the export, and the city's log records it."""
    now = datetime.now(UTC)
    warrant = _registered(http, login, judge, {
        "kind": "evidence_export", "purpose_code": "stolen-vehicle", "sites": [node.site_id],
        "cameras": [clip.camera], "max_uses": 1, "targets": ["demo-2026-1-route"],
        "window": {"start": clip.start.isoformat(), "end": clip.end.isoformat()},
        "not_before": (now - timedelta(minutes=5)).isoformat(),
        "expires_at": (now + timedelta(days=1)).isoformat(),
        "case_number": "DEMO-2026-1", "justification": "the stolen vehicles' route, as evidence"})
    warrant_id = warrant["warrant_id"]
    presented = http.get(f"/warrants/{warrant_id}/receipt", params={"node_id": node_id},
                         headers=login("officer-7"))
    presented.raise_for_status()
    folder = out / "evidence"
    folder.mkdir(exist_ok=True)
    (folder / "warrant.json").write_text(json.dumps(presented.json()["warrant"]))
    (folder / "receipt.json").write_text(json.dumps(presented.json()["receipt"]))
    # the node answered a query under a newer checkpoint before: it wants a consistency proof
    (folder / "consistency.json").write_text(json.dumps(presented.json()["log_consistency"]))
    police = RecipientKey.generate()
    police.save(folder / "police.key")
    sealed = out / "evidence.sce"
    _run("vault", "export", "--config", str(node_config), "--warrant",
         str(folder / "warrant.json"), "--receipt", str(folder / "receipt.json"),
         "--opening", presented.json()["opening"], "--consistency",
         str(folder / "consistency.json"), "--camera", clip.camera,
         "--start", clip.start.isoformat(), "--end", clip.end.isoformat(),
         "--recipient", police.public_text(), "--recipient-name", "city-pd/evidence",
         "--out", str(sealed))
    manifest, files = verify_export(sealed.read_bytes(), police,
                                    load_log_key(node.node_key_file).verifier, [clip.camera],
                                    clip.start, clip.end, warrant_id)
    return {"export": str(sealed), "export_verified": True, "export_warrant": warrant_id,
            "export_segments": len(manifest["segments"]), "export_files": sorted(files),
            "export_in_city_log": _logged_export(http, warrant_id)}


def _logged_export(http: httpx.Client, warrant_id: str) -> int | None:
    """The city log's entry for the node's report of the export (sent through the broker)."""
    for _ in range(300):
        start = 0
        while True:
            page = http.get("/audit/entries", params={"start": start, "limit": 1000}).json()
            for entry in page["entries"]:
                record = entry["record"]
                if record["action"] == "export" and record.get("warrant_id") == warrant_id:
                    return int(entry["index"])
            if len(page["entries"]) < 1000:
                break
            start += 1000
        time.sleep(0.2)
    return None


def _alerts(http: httpx.Client, operator: dict[str, str], node: NodeSettings, node_id: str,
            broker: str) -> dict[str, Any]:
    """The node's outbox (events kept while it was not yet enrolled, and their evidence) goes
    to the coordinator through the broker; the control room sees them as alerts, grouped into
    incidents, each with the redacted snapshot of its first alert."""
    store = EventStore(node.stores.events)
    key = load_identity(node.keys_dir).signing
    publish, close = celery_publisher(broker)
    try:
        sender = EventSender(store, publish, node_id, node.site_id, key)
        while sender.send_pending():
            pass
    finally:
        close()
    found: list[dict[str, Any]] = []
    for _ in range(300):
        found = [a for state in ("open", "logged") for a in http.get(
            "/alerts", headers=operator, params={"state": state, "limit": 1000}).json()["alerts"]]
        if len(found) >= sender.sent:
            break
        time.sleep(0.2)
    publish, close = celery_publisher(broker, EVIDENCE_TASK, LIVE_QUEUE)
    try:  # after its alert, as a node sends it (the worker would wait for the alert anyway)
        pictures = EvidenceSender(store, publish, node_id, node.site_id, key)
        while pictures.send_pending():
            pass
    finally:
        close()
        store.close()
    types: dict[str, int] = {}
    for alert in found:
        types[alert["type"]] = types.get(alert["type"], 0) + 1
    listed = http.get("/incidents", headers=operator, params={"limit": 200}).json()["incidents"]
    grouped: dict[str, int] = {}  # the same alerts as the operator handles them
    for incident in listed:
        grouped[incident["type"]] = grouped.get(incident["type"], 0) + 1
    evidence = _evidence_of(http, operator, [i["id"] for i in listed])
    return {"events_sent": sender.sent, "alerts": types, "incidents": grouped,
            "evidence_sent": pictures.sent, "incident_evidence": evidence}


def _clip(http: httpx.Client, operator: dict[str, str], node: NodeSettings, node_id: str,
          broker: str, evidence: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The operator asks for the clip of the first incident's first alert with evidence (the
    request logged, then signed and sent by the coordinator's worker); the node's worker checks
    it against the city's log and queues its answer, which the node's clip outbox (run by
    `node run` on a live site) publishes on the pictures' queue. Its state once answered."""
    incident = next((i for i, shots in evidence.items() if shots), None)
    if incident is None:
        return {"state": "no evidence"}
    alert = http.get(f"/incidents/{incident}", headers=operator).json()["evidence"][0]
    asked = http.post(f"/alerts/{alert['alert_id']}/clip", headers=operator)
    asked.raise_for_status()
    store = EventStore(node.stores.events)
    publish, close = celery_publisher(broker, CLIP_TASK, LIVE_QUEUE)
    clip: dict[str, Any] = asked.json()
    try:
        sender = ClipSender(store, publish, node_id, node.site_id,
                            load_identity(node.keys_dir).signing,
                            keep=timedelta(hours=node.evidence_clip_hours))
        for _ in range(300):
            sender.send_pending()
            clip = http.get(f"/alerts/{alert['alert_id']}/clip", headers=operator).json()
            if clip["state"] in ("refused", "failed") or (
                    clip["state"] == "received" and len(clip["received"]) == clip["frames"]):
                break
            time.sleep(0.2)
    finally:
        close()
        store.close()
    return {"alert": alert["alert_id"], "state": clip["state"], "frames": clip["frames"],
            "reason": clip["reason"], "intact": all(f["intact"] for f in clip["received"])}


def _evidence_of(http: httpx.Client, operator: dict[str, str], incidents: list[int]
                 ) -> dict[str, list[dict[str, Any]]]:
    """Each incident's evidence as the control room shows it, once every incident has some (or
    after a minute); a picture's address relative to the coordinator."""
    shown: dict[str, list[dict[str, Any]]] = {}
    for _ in range(300):
        shown = {str(i): [{"address": f"/incidents/{i}/evidence/{e['id']}.jpg",
                           "intact": e["intact"], "boxed": e["box"] is not None}
                          for e in http.get(f"/incidents/{i}", headers=operator
                                            ).json()["evidence"]] for i in incidents}
        if all(shown.values()):
            break
        time.sleep(0.2)
    return shown


def _map(http: httpx.Client, operator: dict[str, str]) -> dict[str, list[str]]:
    """The cameras the control room's map places and those it lists as not placed."""
    shown = http.get("/control-room/map/cameras.json", headers=operator)
    shown.raise_for_status()
    return {group: sorted(f"{c['camera']}@{c['site']}" for c in cameras)
            for group, cameras in shown.json().items()}


def _aggregate(http: httpx.Client, planner: dict[str, str], site: str
               ) -> tuple[str, dict[str, Any]]:
    """A planner's question, answered by the node (``site``) with differential privacy; the
    question's id, and the node's answer. The question goes to every enrolled site, and the
    second one runs no worker: its part stays pending until the coordinator's query deadline
    (``query_timeout_seconds``) and is settled by ``_settle_aggregate`` after the training."""
    now = datetime.now(UTC)
    asked = http.post("/aggregates", headers=planner, json={
        "kind": "zone_counts_hourly", "epsilon": 0.5,
        "window": {"start": (now - timedelta(hours=2)).isoformat(), "end": now.isoformat()}})
    asked.raise_for_status()
    query_id = asked.json()["query_id"]
    node: dict[str, Any] = {}
    for _ in range(300):  # at most a minute, as the one waiting read it replaces
        view = http.get(f"/aggregates/{query_id}", headers=planner).json()
        node = next(n for n in view["nodes"] if n["site_id"] == site)
        if node["status"] != "pending":
            break
        time.sleep(0.2)
    cells = node["cells"]
    return query_id, {"aggregate": {"status": node["status"], "cells": len(cells),
                          "suppressed": sum(c["value"] is None for c in cells),
                          "mechanism": node["mechanism"], "epsilon": node["epsilon"],
                          "epsilon_left": node["epsilon_left"],
                          "budget_left": _budget_words(node.get("budget"))}}


def _settle_aggregate(http: httpx.Client, planner: dict[str, str], query_id: str) -> None:
    """Read the question until no node's part is pending: the coordinator then records (and
    logs) the silent site's part as unreachable."""
    http.get(f"/aggregates/{query_id}", headers=planner, params={"wait": 60}
             ).raise_for_status()


def _budget_words(budget: dict[str, Any] | None) -> str:
    """Where the epsilon left comes from: this period's and the lifetime cap's remainders."""
    if not budget:
        return ""
    return (f"(period {budget['period_label']}, {budget['time_zone']}: "
            f"{budget['period_epsilon_left']} of {budget['period_epsilon']} left this month, "
            f"renewed {budget['period_end'][:10]}; {budget['lifetime_epsilon_left']} of "
            f"{budget['lifetime_epsilon']} left for good)")
