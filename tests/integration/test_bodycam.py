"""Body-worn cameras' clips at a site: a real clip (the simulation's scene, encoded as H.264)
uploaded over real HTTP with the enrolled device's key is redacted (CenterFace finds no face
where the scene put one, though it finds them in the original), kept byte for byte only
encrypted in the vault, and logged in the node's audit log with its SHA-256, device and the
officer's statement; its redacted still becomes the device's live view in the control room
and, with a ``bodycam_clip`` event at the device, that event's evidence on its incident (signed,
checked by the coordinator, no face detectable in it).
An unknown device, a key that is not the device's, an altered clip, a
replay, a clip too large and a file that is not video are refused with an RFC 9457 problem,
logged, and leave nothing behind. ``safecity node ingest`` takes a clip at the site.
An upload's body is read only after its signed headers hold, a slot at a time, under a read
timeout; a clip recorded at an implausible time is refused; retention deletes the redacted
copies by recording day, except those on a legal hold."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from audit.records import Action
from contract.events import BODYCAM_CLIP
from coordinator.alert_intake import Intake, accept
from coordinator.evidence import accept_evidence
from coordinator.live_views import accept_snapshot
from nodes.bodycam_claim import OfficerStatement, claim_for, headers_for
from nodes.bodycam_ingest import ClipIntake, clip_intake
from nodes.bodycam_server import PATH, UploadServer
from nodes.cli import main
from nodes.config import NodeSettings, load_settings
from nodes.enrolment_request import enrolment_request
from nodes.event_sender import EventSender, EvidenceSender
from nodes.events import EventStore
from nodes.identity import load_identity
from nodes.live_view import LiveViewSender
from nodes.media import VideoReader
from nodes.retention import purge_stores
from nodes.vault.site import initialise
from privacy import model_registry
from privacy.redaction.faces import CenterFaceDetector
from privacy.signing import SigningKey
from simulation.evaluation import leaks
from simulation.synthetic import GroundTruth, SceneSpec, write_scene_video
from tests.support.world import embedded_world

OFFICER = OfficerStatement(badge="PC 4417", case="CASE-2026-0107", note="stop on High Street")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[GroundTruth]]]:
    clip = tmp_path_factory.mktemp("bodycam") / "clip.mp4"
    truth = write_scene_video(clip, SceneSpec(width=640, height=360, seconds=1.2, people=3,
                                              vehicles=1, face_sizes=(48, 90), seed=17))
    return clip, truth


def site(tmp_path: Path, model_dir: Path, device: SigningKey) -> NodeSettings:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "node.toml"
    config.write_text(f'site_id = "site-a"\ndata_dir = "{tmp_path / "data"}"\n'
                      'bodycam_max_mb = 1\n'
                      '[[body_cameras]]\nid = "officer-17"\n'
                      f'public_key = "{device.public.text()}"\n')
    settings = load_settings(config, model_dir=model_dir)
    initialise(settings)
    return settings


@pytest.fixture
def device() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def settings(tmp_path: Path, model_dir: Path, device: SigningKey) -> NodeSettings:
    return site(tmp_path, model_dir, device)


@pytest.fixture
def served(settings: NodeSettings) -> Iterator[tuple[ClipIntake, str]]:
    with clip_intake(settings) as intake, UploadServer(intake, "127.0.0.1", 0) as server:
        yield intake, f"http://127.0.0.1:{server.port}{PATH}"


def faces_at_truth(video: Path, truth: list[list[GroundTruth]], model_dir: Path) -> int:
    detector = CenterFaceDetector(model_registry.model_path("centerface", model_dir))
    found = 0
    with VideoReader(video) as reader:
        index = 0
        for kind, frame in reader.packets():
            if kind == "video":
                found += leaks(detector.detect(frame), truth[index])  # type: ignore[arg-type]
                index += 1
    return found


def left_behind(settings: NodeSettings) -> tuple[int, list[str], list[str]]:
    with clip_intake(settings) as intake:
        segments = len(intake.opened.vault.segments(["officer-17"]))
    redacted = sorted(p.name for p in (settings.data_dir / "redacted" / "bodycam").glob("*"))
    incoming = sorted(p.name for p in (settings.data_dir / "bodycam-incoming").glob("*"))
    return segments, redacted, incoming


def test_a_signed_clip_is_redacted_vaulted_and_logged_and_bad_uploads_leave_nothing(
        scene: tuple[Path, list[list[GroundTruth]]], settings: NodeSettings,
        served: tuple[ClipIntake, str], device: SigningKey, model_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    clip, truth = scene
    data = clip.read_bytes()
    intake, url = served
    now = datetime.now(UTC)
    claim = claim_for("officer-17", data, now, now, OFFICER)
    headers = headers_for(claim, device)
    taken = httpx.post(url, content=data, headers=headers, timeout=300)
    assert taken.status_code == 201, taken.text
    kept = taken.json()
    assert kept["sha256"] == hashlib.sha256(data).hexdigest() and kept["size"] == len(data)

    # the original, byte for byte, is in the vault only encrypted
    vault = intake.opened.vault
    assert vault.read(kept["segment"]) == data
    stored = next(settings.vault_dir.rglob(f"*{kept['segment']}*"))
    assert data[:4096] not in stored.read_bytes()
    # the redacted clip: CenterFace finds the scene's faces in the original, none after
    redacted = settings.data_dir / "redacted" / "bodycam" / f"officer-17-{kept['sha256'][:16]}.mp4"
    assert faces_at_truth(clip, truth, model_dir) > 0
    assert faces_at_truth(redacted, truth, model_dir) == 0
    # chain of custody: the device's SHA-256, the device and the officer's statement
    log = intake.opened.log
    index = log.size() - 1
    record = log.entry(index).record
    assert record.action is Action.COLLECTION and record.outcome == "body_camera_clip_taken"
    details = {k: json.loads(v) for k, v in log.details(index).items()}
    assert details["sha256"] == kept["sha256"] and details["device"] == "officer-17"
    assert details["officer"] == OFFICER.model_dump() and details["nonce"] == claim.nonce
    size = log.size()

    caplog.set_level(logging.WARNING, logger="nodes.bodycam_ingest")
    replay = httpx.post(url, content=data, headers=headers, timeout=300)
    assert replay.status_code == 409 and replay.json()["code"] == "replay"
    assert replay.headers["content-type"] == "application/problem+json"

    def sent(key: SigningKey, device_id: str, body: bytes, signed_for: bytes = data
             ) -> httpx.Response:
        fresh = claim_for(device_id, signed_for, now, datetime.now(UTC), OFFICER)
        return httpx.post(url, content=body, headers=headers_for(fresh, key), timeout=300)

    stranger = SigningKey.generate()
    assert sent(stranger, "officer-17", data).json()["code"] == "bad_signature"
    assert sent(stranger, "officer-99", data).json()["code"] == "unknown_device"
    altered = bytearray(data)
    altered[len(altered) // 2] ^= 0xFF
    answer = sent(device, "officer-17", bytes(altered))
    assert (answer.status_code, answer.json()["code"]) == (422, "altered")
    junk = b"not a video at all" * 100
    answer = sent(device, "officer-17", junk, signed_for=junk)
    assert (answer.status_code, answer.json()["code"]) == (422, "not_video")
    old = claim_for("officer-17", data, now, now - timedelta(minutes=6), OFFICER)
    stale = httpx.post(url, content=data, headers=headers_for(old, device), timeout=300)
    assert (stale.status_code, stale.json()["code"]) == (403, "stale")
    unsigned = httpx.post(url, content=data, timeout=300)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "unsigned")
    # larger than bodycam_max_mb: refused from its Content-Length, the body never read
    connection = http.client.HTTPConnection("127.0.0.1", int(url.split(":")[2].split("/")[0]))
    connection.putrequest("POST", PATH)
    connection.putheader("Content-Length", str(2**31))
    connection.endheaders()
    big = connection.getresponse()
    assert big.status == 413 and json.loads(big.read())["code"] == "too_large"
    connection.close()

    codes = [getattr(r, "code", None) for r in caplog.records]
    for code in ("replay", "bad_signature", "unknown_device", "altered", "not_video", "stale",
                 "unsigned"):
        assert code in codes, codes
    assert log.size() == size  # refusals do not grow the permanent log
    assert left_behind(settings) == (1, [redacted.name], [])


def test_a_clip_is_ingested_at_the_site_and_an_unenrolled_device_is_refused(
        scene: tuple[Path, list[list[GroundTruth]]], tmp_path: Path, model_dir: Path,
        device: SigningKey) -> None:
    clip, _ = scene
    settings = site(tmp_path, model_dir, device)
    config = tmp_path / "node.toml"
    runner = CliRunner()
    done = runner.invoke(main, ["node", "ingest", "--config", str(config), str(clip),
                                "--device", "officer-17", "--badge", "PC 4417",
                                "--recorded-at", "2026-12-06T09:30:00+01:00"])
    assert done.exit_code == 0, done.output
    kept = json.loads(done.output)
    assert kept["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    # no broker: the clip's event and its evidence wait in the node's outbox
    with closing(EventStore(settings.stores.events)) as events:
        assert [(e.seq, e.type) for e in events.all()] == [(kept["event"], "bodycam_clip")]
        assert [v.seq for v in events.evidence()] == [kept["event"]]
    with clip_intake(settings) as intake:
        (segment,) = intake.opened.vault.segments(["officer-17"])
        assert segment.start == datetime(2026, 12, 6, 8, 30, tzinfo=UTC)
    refused = runner.invoke(main, ["node", "ingest", "--config", str(config), str(clip),
                                   "--device", "officer-99"])
    assert refused.exit_code == 1
    assert "device 'officer-99' is not enrolled at this site" in refused.output
    again = runner.invoke(main, ["node", "ingest", "--config", str(config), str(clip),
                                 "--device", "officer-17"])
    assert again.exit_code == 1 and "already taken" in again.output
    assert left_behind(settings)[0] == 1


def test_the_clips_redacted_still_is_the_devices_live_view_and_its_incidents_evidence(
        scene: tuple[Path, list[list[GroundTruth]]], tmp_path: Path, model_dir: Path,
        device: SigningKey) -> None:
    clip, truth = scene
    settings = site(tmp_path / "node", model_dir, device)
    identity = load_identity(settings.keys_dir)
    city = embedded_world(tmp_path / "city")
    try:
        # the body-worn camera is enrolled as one of the node's cameras, with its notice
        request = enrolment_request(settings, "alpha-node")  # as `safecity node keys` prints
        assert request["cameras"] == ["officer-17"]
        enrolled = city.client.post("/nodes", headers=city.as_("admin"), json=request)
        assert enrolled.status_code == 201, enrolled.text
        live = LiveViewSender(lambda body: accept_snapshot(city.svc, body), "alpha-node",
                              "site-a", identity.signing)
        events = EventStore(settings.stores.events)
        recorded = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        with clip_intake(settings, live, events) as intake:
            kept = intake.ingest(clip, "officer-17", recorded, OFFICER)
        assert kept["shown"] is True
        still = city.client.get("/control-room/live/alpha-node/officer-17.jpg",
                                headers=city.as_("operator"))
        assert still.status_code == 200, still.text
        picture = cv2.imdecode(np.frombuffer(still.content, np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == (360, 640, 3)
        detector = CenterFaceDetector(model_registry.model_path("centerface", model_dir))
        middle = truth[kept["frames"] // 2]
        assert any(t.kind == "face" for t in middle)  # the still's moment shows faces...
        assert leaks(detector.detect(picture), middle) == 0  # ...and none is detectable

        # the clip is an event at the device, its still that event's evidence, through the
        # node's outbox and the coordinator's own checks
        (event,) = events.all()
        assert (event.seq, event.type, event.camera) == (kept["event"], BODYCAM_CLIP,
                                                        "officer-17")
        # at the still's moment: the middle frame of the scene's 25 frames a second
        assert event.time == recorded + timedelta(seconds=(kept["frames"] // 2) / 25)
        intakes: list[Intake] = []
        EventSender(events, lambda body: intakes.append(accept(city.svc, body)), "alpha-node",
                    "site-a", identity.signing).send_pending()
        stored: list[int | None] = []
        EvidenceSender(events, lambda body: stored.append(accept_evidence(city.svc, body)),
                       "alpha-node", "site-a", identity.signing).send_pending()
        (incident,) = intakes[0].incidents
        (evidence_id,) = stored
        assert evidence_id is not None
        detail = city.client.get(f"/incidents/{incident}", headers=city.as_("operator")).json()
        assert detail["severity"] == "low"
        (shown,) = detail["evidence"]
        assert (shown["id"], shown["camera"], shown["intact"]) == (evidence_id, "officer-17",
                                                                  True)
        jpeg = city.client.get(f"/incidents/{incident}/evidence/{evidence_id}.jpg",
                               headers=city.as_("operator"))
        assert jpeg.status_code == 200, jpeg.text
        evidence = cv2.imdecode(np.frombuffer(jpeg.content, np.uint8), cv2.IMREAD_COLOR)
        assert evidence.shape == (360, 640, 3)
        assert leaks(detector.detect(evidence), middle) == 0
        events.close()
    finally:
        city.close()


def raw_upload(url: str, headers: dict[str, str], length: int) -> socket.socket:
    """An upload's request line and headers sent by hand, the body left to the caller."""
    port = int(url.split(":")[2].split("/", maxsplit=1)[0])
    connection = socket.create_connection(("127.0.0.1", port), timeout=60)
    lines = [f"POST {PATH} HTTP/1.1", "Host: node", f"Content-Length: {length}",
             *(f"{k}: {v}" for k, v in headers.items())]
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return connection


def answer_of(connection: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    reply = http.client.HTTPResponse(connection)  # type: ignore[arg-type]
    reply.begin()
    return reply.status, dict(reply.getheaders()), json.loads(reply.read())


def test_an_upload_is_judged_from_its_headers_before_its_body_is_read(
        scene: tuple[Path, list[list[GroundTruth]]], settings: NodeSettings,
        device: SigningKey) -> None:
    clip, _ = scene
    data = clip.read_bytes()
    now = datetime.now(UTC)
    with clip_intake(settings) as intake, UploadServer(intake, "127.0.0.1", 0, slots=1,
                                                       read_timeout=5.0) as server:
        url = f"http://127.0.0.1:{server.port}{PATH}"
        # no claim: refused though not one byte of the announced body was sent
        with raw_upload(url, {}, len(data)) as unsigned:
            assert answer_of(unsigned)[2]["code"] == "unsigned"
        # a claim for another size than the Content-Length: refused, body unsent
        signed = headers_for(claim_for("officer-17", data, now, now), device)
        with raw_upload(url, signed, len(data) - 1) as other:
            status, _, problem = answer_of(other)
            assert (status, problem["code"]) == (422, "altered")
        # a signed upload that sends half its body and stalls holds the only slot...
        stalled = raw_upload(url, headers_for(claim_for("officer-17", data, now, now), device),
                             len(data))
        stalled.sendall(data[:len(data) // 2])
        deadline = time.monotonic() + 60  # a loaded machine may take a while to verify it
        while server.receiving == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.receiving == 1
        with raw_upload(url, headers_for(claim_for("officer-17", data, now, now), device),
                        len(data)) as second:
            status, headers, problem = answer_of(second)
        assert (status, problem["code"]) == (503, "busy") and int(headers["Retry-After"]) > 0
        assert headers["Content-Type"] == "application/problem+json"
        # ...until the socket's read timeout ends it; the half body is not kept
        status, _, problem = answer_of(stalled)
        stalled.close()
        assert (status, problem["code"]) == (408, "timeout")
        # a body that ends early is refused, nothing of it half-written
        with raw_upload(url, headers_for(claim_for("officer-17", data, now, now), device),
                        len(data)) as short:
            short.sendall(data[:1000])
            short.shutdown(socket.SHUT_WR)
            status, _, problem = answer_of(short)
        assert (status, problem["code"]) == (400, "short_read")
    assert left_behind(settings) == (0, [], [])


def test_a_clip_recorded_at_an_implausible_time_is_refused(
        scene: tuple[Path, list[list[GroundTruth]]], settings: NodeSettings,
        served: tuple[ClipIntake, str], device: SigningKey) -> None:
    data = scene[0].read_bytes()
    _, url = served
    now = datetime.now(UTC)
    for recorded in (datetime(2099, 6, 1, tzinfo=UTC),  # filed under a day never purged
                     now + timedelta(minutes=6),  # after it was sent, beyond the skew
                     now - timedelta(days=settings.retention_days + 1)):  # already past
        claim = claim_for("officer-17", data, recorded, now)
        answer = httpx.post(url, content=data, headers=headers_for(claim, device), timeout=300)
        assert (answer.status_code, answer.json()["code"]) == (422, "implausible_time")
    assert left_behind(settings) == (0, [], [])


def test_retention_deletes_redacted_clips_by_recording_day_except_held_ones(
        scene: tuple[Path, list[list[GroundTruth]]], tmp_path: Path, settings: NodeSettings,
        served: tuple[ClipIntake, str], device: SigningKey) -> None:
    other = tmp_path / "other.mp4"
    write_scene_video(other, SceneSpec(width=320, height=180, seconds=0.6, people=2,
                                       vehicles=0, face_sizes=(40, 60), seed=5))
    intake, url = served
    now = datetime.now(UTC)
    kept = {}
    for name, data, recorded in (("free", scene[0].read_bytes(), now - timedelta(minutes=2)),
                                 ("held", other.read_bytes(), now)):
        claim = claim_for("officer-17", data, recorded, now)
        answer = httpx.post(url, content=data, headers=headers_for(claim, device), timeout=300)
        assert answer.status_code == 201, answer.text
        kept[name] = answer.json()
    folder = settings.data_dir / "redacted" / "bodycam"
    redacted = {name: folder / f"officer-17-{k['sha256'][:16]}.mp4" for name, k in kept.items()}

    # the register, not the redacted file, says a clip was taken
    redacted["free"].rename(tmp_path / "moved.mp4")
    again = httpx.post(url, content=scene[0].read_bytes(), timeout=300, headers=headers_for(
        claim_for("officer-17", scene[0].read_bytes(), now, datetime.now(UTC)), device))
    assert (again.status_code, again.json()["code"]) == (409, "duplicate")
    (tmp_path / "moved.mp4").rename(redacted["free"])

    # a legal hold on the second clip's time only; then the clock past retention
    vault = intake.opened.vault
    assert vault.hold("CASE-9", ["officer-17"], now - timedelta(seconds=30),
                      now + timedelta(seconds=1), "stop on High Street",
                      now + timedelta(days=400)) == 1
    later = now + timedelta(days=settings.retention_days + 2)
    vault.clock = lambda: later
    size = intake.opened.log.size()
    vault.purge()
    deleted = purge_stores(settings, intake.opened.log, later, vault.held(later))
    assert deleted["bodycam_clips_deleted"] == 1
    assert not redacted["free"].exists() and redacted["held"].exists()
    purged = [intake.opened.log.entry(i).record for i in range(size, intake.opened.log.size())]
    assert any(r.action is Action.RETENTION_PURGE and r.purpose_code == "bodycam_clip_retention"
               for r in purged)
