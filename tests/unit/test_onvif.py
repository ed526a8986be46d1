"""ONVIF cameras: discovered by multicast on the site's network, streams looked up over SOAP with
WS-Security digests, video pulled over RTSP with Digest authentication, credentials from a file
of their own and in no message, output or log. The camera is tests/onvif_camera.py: real sockets,
real SOAP, real RTSP/RTP, real H.264."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.errors import ConfigError
from nodes.config import load_settings
from nodes.errors import CameraLookupError, SourceError
from nodes.onvif.credentials import (
    CameraCredentials,
    read_credentials,
    with_credentials,
    write_credentials,
)
from nodes.onvif.discovery import discover, parse_probe_matches, probe_message
from nodes.onvif.streams import lookup, parse_onvif_uri
from nodes.sources import open_source
from simulation.synthetic import SceneSpec, write_scene_video
from tests.support.fuzzing import FUZZ, mutated, mutated_bytes, rejected_or_fine
from tests.support.onvif_camera import Camera
from tests.support.served import free_port

USERNAME, PASSWORD = "gate-operator-7", "Tr0ub4dor&3:gate/pw"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "clip.ts"
    write_scene_video(path, SceneSpec(width=320, height=240, seconds=2.0, people=2, vehicles=1,
                                      face_sizes=(40, 60), seed=7), audio=False)
    return path


@pytest.fixture
def camera(clip: Path) -> Iterator[Camera]:
    started = Camera("127.0.0.1", clip, USERNAME, PASSWORD).start(discovery=False)
    yield started
    started.stop()


@pytest.fixture
def credentials_file(tmp_path: Path) -> Path:
    path = tmp_path / "gate.credentials"
    write_credentials(path, CameraCredentials(USERNAME, PASSWORD))
    return path


def address(camera: Camera) -> str:
    return f"127.0.0.1:{camera.http_port}"


def test_lookup_names_the_device_and_its_streams_without_credentials(camera: Camera) -> None:
    streams = lookup(address(camera), CameraCredentials(USERNAME, PASSWORD))
    assert (streams.manufacturer, streams.model, streams.firmware) == (
        "Safecity Test Optics", "SC-CAM-1", "2.4.1")
    # its metadata-only profile has no stream (GetStreamUri is a fault) and is left out
    assert [(p.token, p.name, p.encoding, p.width, p.height) for p in streams.profiles] == [
        ("main", "mainstream", "H264", 320, 240), ("sub", "substream", "H264", 160, 120)]
    assert [p.uri for p in streams.profiles] == [
        f"rtsp://127.0.0.1:{camera.rtsp_port}/stream1",
        f"rtsp://127.0.0.1:{camera.rtsp_port}/stream2"]
    assert camera.refusals == []
    summary = json.dumps(streams.summary())
    assert PASSWORD not in summary and USERNAME not in summary
    assert streams.summary()["profiles"][1]["source"] == f"onvif://{address(camera)}/sub"
    assert streams.choose(None).token == "main" and streams.choose("substream").token == "sub"
    with pytest.raises(CameraLookupError, match="no profile 'third'; the camera has main, sub"):
        streams.choose("third")


def test_wrong_credentials_are_refused_by_the_camera_and_never_repeated(camera: Camera) -> None:
    wrong = CameraCredentials(USERNAME, "not-" + PASSWORD)
    with pytest.raises(CameraLookupError) as refused:
        lookup(address(camera), wrong)
    assert str(refused.value) == f"onvif://{address(camera)}: the camera refused the credentials"
    assert "wrong credentials (ONVIF)" in camera.refusals  # checked, not merely absent
    with pytest.raises(CameraLookupError, match="the camera refused the credentials"):
        lookup(address(camera), None)
    assert camera.refusals.count("wrong credentials (ONVIF)") == 4  # two requests each time


def test_a_camera_that_does_not_answer(camera: Camera) -> None:
    with pytest.raises(CameraLookupError, match=r"^onvif://127\.0\.0\.1:\d+: .*refused"):
        lookup(f"127.0.0.1:{free_port()}", CameraCredentials(USERNAME, PASSWORD), timeout=5)
    silent = __import__("socket").socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        with pytest.raises(CameraLookupError, match=r"no answer within 1 s$"):
            lookup(f"127.0.0.1:{silent.getsockname()[1]}", None, timeout=1)
    finally:
        silent.close()


def test_an_onvif_source_plays_the_stream_the_camera_names(camera: Camera) -> None:
    credentials = CameraCredentials(USERNAME, PASSWORD)
    source = open_source(f"onvif://{address(camera)}/main", credentials=credentials,
                         max_seconds=1.0)
    frames = list(source.frames())
    assert len(frames) == 25 and frames[0].shape == (240, 320, 3)
    assert frames[0].std() > 10  # a scene, not a blank frame
    assert source.name == f"onvif://{address(camera)}/main"
    assert camera.streamed == 1 and camera.refusals == []


def test_an_rtsp_camera_with_a_credentials_file(camera: Camera, credentials_file: Path) -> None:
    url = f"rtsp://127.0.0.1:{camera.rtsp_port}/stream1"
    frames = list(open_source(url, credentials=read_credentials(credentials_file),
                              max_seconds=0.4).frames())
    assert len(frames) == 10
    wrong = open_source(url, reconnect_attempts=1, backoff_seconds=0.01,
                        credentials=CameraCredentials(USERNAME, "wrong"))
    with pytest.raises(SourceError) as failed:
        list(wrong.frames())
    assert str(failed.value).startswith(f"{url}: ")
    assert "gave up after 2 attempts (0 frames received)" in str(failed.value)
    assert "wrong" not in str(failed.value) and USERNAME not in str(failed.value)
    assert camera.refusals.count("wrong credentials (RTSP)") == 2


def test_a_profile_the_camera_does_not_have_fails_the_source_clearly(camera: Camera) -> None:
    source = open_source(f"onvif://{address(camera)}/night", reconnect_attempts=0,
                         credentials=CameraCredentials(USERNAME, PASSWORD))
    with pytest.raises(SourceError, match=(
            rf"^onvif://{address(camera)}/night: no profile 'night'; the camera has main, sub; "
            r"gave up after 1 attempt \(0 frames received\)$")):
        list(source.frames())


def test_a_stream_on_another_host_gets_no_credentials(clip: Path) -> None:
    camera = Camera("127.0.0.1", clip, USERNAME, PASSWORD, stream_host="127.0.0.2")
    camera.start(discovery=False)
    try:
        source = open_source(f"onvif://{address(camera)}/main", reconnect_attempts=0,
                             credentials=CameraCredentials(USERNAME, PASSWORD))
        with pytest.raises(SourceError, match=r"names a stream on another host \(127\.0\.0\.2\); "
                           "credentials are sent to the camera only"):
            list(source.frames())
        assert camera.streamed == 0
    finally:
        camera.stop()


def test_credentials_files_must_be_private_and_well_formed(tmp_path: Path) -> None:
    path = tmp_path / "cam.credentials"
    write_credentials(path, CameraCredentials(USERNAME, PASSWORD))
    assert (path.stat().st_mode & 0o777) == 0o600
    assert read_credentials(path) == CameraCredentials(USERNAME, PASSWORD)
    assert PASSWORD not in repr(read_credentials(path))
    with pytest.raises(ConfigError, match="already exists"):
        write_credentials(path, CameraCredentials(USERNAME, "other"))
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match=r"other users may read or change it \(mode 0644\); "
                       "chmod 600 it"):
        read_credentials(path)
    bad = tmp_path / "bad.credentials"
    for text in (f'username = "{USERNAME}"\n', f'user = "a"\npassword = "{PASSWORD}"\n',
                 f'username = "a"\npassword = "{PASSWORD}\n', 'username = "a"\npassword = 7\n'):
        bad.write_text(text)
        os.chmod(bad, 0o600)
        with pytest.raises(ConfigError) as refused:
            read_credentials(bad)
        assert PASSWORD not in str(refused.value)
    with pytest.raises(ConfigError, match="no such credentials file"):
        read_credentials(tmp_path / "absent")
    with pytest.raises(ConfigError, match="already carries credentials"):
        with_credentials("rtsp://a:b@cam/s", CameraCredentials("u", "p"))
    assert with_credentials("rtsp://cam:554/s", CameraCredentials("u@x", "p:/@")) == \
        "rtsp://u%40x:p%3A%2F%40@cam:554/s"


def test_camera_configuration_keeps_credentials_out_of_the_source(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[[cameras]]\nid = "gate"\nsource = "rtsp://u:p@cam/s"\n'
                      f'credentials_file = "{tmp_path / "c"}"\n')
    with pytest.raises(ConfigError, match="keep them in the credentials file only"):
        load_settings(config)
    config.write_text('[[cameras]]\nid = "gate"\nsource = "/srv/gate.mp4"\n'
                      f'credentials_file = "{tmp_path / "c"}"\n')
    with pytest.raises(ConfigError, match="only a network camera"):
        load_settings(config)
    config.write_text('[[cameras]]\nid = "gate"\nsource = "onvif://cam:http/main"\n')
    with pytest.raises(ConfigError, match=r"cameras\.0.*not host\[:port\]"):
        load_settings(config)
    assert parse_onvif_uri("onvif://10.0.0.5") == ("10.0.0.5:80", None)
    assert parse_onvif_uri("onvif://cam.site:8080/sub") == ("cam.site:8080", "sub")


def test_probe_answers_are_matched_and_distrusted(clip: Path) -> None:
    camera = Camera("10.0.0.5", clip, USERNAME, PASSWORD, http_port=8080)
    assert b"dn:NetworkVideoTransmitter" in probe_message("urn:uuid:1")
    [device] = parse_probe_matches(camera.probe_match("urn:uuid:1").encode(), "urn:uuid:1")
    assert device.summary() == {
        "urn": camera.urn, "address": "10.0.0.5:8080",
        "xaddrs": ["http://10.0.0.5:8080/onvif/device_service"], "name": "Gate camera",
        "location": "north-gate", "hardware": "SC-CAM-1", "types": ["dn:NetworkVideoTransmitter"]}
    answer = camera.probe_match("urn:uuid:1")
    assert parse_probe_matches(answer.encode(), "urn:uuid:2") == []  # another probe's answer
    entity = ('<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x "urn:uuid:1">]>'
              + answer.split("?>", 1)[1].replace("<a:RelatesTo>urn:uuid:1", "<a:RelatesTo>&x;"))
    assert parse_probe_matches(entity.encode(), "urn:uuid:1") == []
    hostile = answer.replace("http://10.0.0.5:8080/onvif/device_service",
                             "file:///etc/passwd http://u:p@10.0.0.6/x ftp://x/").replace(
                             "Gate%20camera", "Gate%1B[31mcamera")
    assert parse_probe_matches(hostile.encode(), "urn:uuid:1") == []  # no usable address
    odd = answer.replace("Gate%20camera", "Gate%1B[2Jcamera")
    assert parse_probe_matches(odd.encode(), "urn:uuid:1")[0].scope("name") == "Gate?[2Jcamera"
    assert parse_probe_matches(b"\x00garbage", "urn:uuid:1") == []
    assert parse_probe_matches(b"<a>" + b" " * 70000 + b"</a>", "urn:uuid:1") == []


def test_discovery_names_the_interfaces_it_can_use() -> None:
    with pytest.raises(ConfigError, match=r"no network interface nosuch0; this host has .*lo"):
        discover(0.1, ("nosuch0",))
    assert discover(0.2, ("lo",)) == []  # nothing answers here


ANSWER = Camera("10.0.0.5", Path("clip.ts"), USERNAME, PASSWORD, http_port=8080).probe_match(
    "urn:uuid:1").encode()


@FUZZ
@given(data=st.one_of(st.binary(max_size=600), mutated_bytes(ANSWER)))
def test_fuzzed_probe_answers_never_crash_and_yield_only_usable_devices(data: bytes) -> None:
    for device in rejected_or_fine(lambda: parse_probe_matches(data, "urn:uuid:1")):
        assert device.xaddrs and all(x.startswith(("http://", "https://")) for x in device.xaddrs)
        assert device.address and all(c.isprintable() and c.isascii()
                                      for c in "".join(device.summary()["name"]))


@FUZZ
@given(text=mutated(f'username = "{USERNAME}"\npassword = "{PASSWORD}"\n'))
def test_fuzzed_credentials_files_are_read_or_refused(
        tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("credentials") / "c"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    os.chmod(path, 0o600)
    outcome = rejected_or_fine(lambda: read_credentials(path))
    if isinstance(outcome, ConfigError):
        assert PASSWORD not in str(outcome)
