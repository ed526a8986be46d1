"""Network camera sources against real sockets on loopback: silence, refusal, drops, reconnects."""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from kernel.errors import ConfigError
from nodes.errors import SourceError
from nodes.sources import FrameSource, open_source
from nodes.sources.network import NetworkSource, redact_url
from simulation.synthetic import SceneSpec, write_scene_video
from tests.support.served import free_port


@contextmanager
def tcp_server(handlers: list) -> Iterator[int]:
    """Serve one connection per handler, in order, then stop listening (refuse)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(20)
    stop = threading.Event()

    def serve() -> None:
        try:
            for handler in handlers:
                conn, _ = server.accept()
                with conn:
                    handler(conn, stop)
        except OSError:
            pass
        finally:
            server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
        thread.join(timeout=5)


def silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(10)  # accept, read nothing back, never answer


def sender(data: bytes):
    def send(conn: socket.socket, stop: threading.Event) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(data)
    return send


@pytest.fixture(scope="module")
def mpegts(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("ts") / "clip.ts"
    write_scene_video(path, SceneSpec(width=320, height=240, seconds=2.0, people=2, vehicles=0,
                                      face_sizes=(40, 60), seed=1), audio=False)
    return path.read_bytes()


def test_refused_connection_backs_off_then_fails() -> None:
    sleeps: list[float] = []
    source = NetworkSource(f"tcp://127.0.0.1:{free_port()}", attempts=3, backoff=0.5,
                           open_timeout=2, sleep=sleeps.append)
    with pytest.raises(SourceError, match=r"gave up after 4 attempts \(0 frames received\)"):
        list(source.frames())
    assert sleeps == [0.5, 1.0, 2.0]


def test_rtsp_server_that_never_answers_times_out_without_leaking_credentials() -> None:
    with tcp_server([silent, silent]) as port:
        url = f"rtsp://operator:hunter2@127.0.0.1:{port}/stream1"
        source = NetworkSource(url, attempts=1, backoff=0.01, open_timeout=0.5,
                               read_timeout=0.5, sleep=lambda s: None)
        with pytest.raises(SourceError) as error:
            list(source.frames())
    message = str(error.value)
    assert "gave up after 2 attempts" in message and "hunter2" not in message
    assert message.startswith(f"rtsp://127.0.0.1:{port}/stream1:")


def test_stream_that_drops_mid_way_reconnects_and_continues(mpegts: bytes) -> None:
    half = mpegts[: len(mpegts) // 2]
    with tcp_server([sender(half), sender(mpegts)]) as port:
        ticks = iter(range(0, 1000, 2))  # each look at the clock: 2 s later
        source = NetworkSource(f"tcp://127.0.0.1:{port}", attempts=1, backoff=0.01,
                               open_timeout=3, read_timeout=3, sleep=lambda s: None,
                               clock=lambda: next(ticks))
        frames = []
        with pytest.raises(SourceError, match="frames received") as error:
            for frame in source.frames():
                frames.append(frame)
    assert source.reconnects == 2
    assert source.dropped_frames == int(2 * source.fps)  # the 2 s it was down, at its rate
    assert 50 < len(frames) < 100  # part of the first stream, then all 50 of the second
    assert f"({len(frames)} frames received)" in str(error.value)
    assert frames[0].shape == (240, 320, 3)


def test_credentials_are_stripped_from_names() -> None:
    assert redact_url("rtsp://u:p@cam.local:554/s?token=x") == "rtsp://cam.local:554/s"
    assert open_source("rtsp://u:p@10.1.2.3/live").name == "rtsp://10.1.2.3/live"


def test_every_kind_of_source_has_what_the_node_reads(tmp_path: Path) -> None:
    """The camera run reads every member of FrameSource from whatever source it opened."""
    video, image = tmp_path / "clip.mp4", tmp_path / "still.png"
    write_scene_video(video, SceneSpec(width=160, height=120, seconds=0.2, people=1, vehicles=0))
    cv2.imwrite(str(image), np.zeros((12, 16, 3), np.uint8))
    members = {*FrameSource.__annotations__, "has_sound", "frames", "close"}
    for uri in (str(video), str(image), "rtsp://u:p@127.0.0.1:9/live", "synthetic:seconds=0.2"):
        source = open_source(uri)
        try:
            assert {m for m in members if not hasattr(source, m)} == set(), uri
            assert (source.reconnects, source.dropped_frames, source.listener) == (0, 0, None)
            assert isinstance(source.has_sound, bool)
        finally:
            source.close()


def test_synthetic_source_uri(tmp_path: Path) -> None:
    source = open_source("synthetic:seed=2,seconds=0.4,width=160,height=120,people=1,vehicles=0")
    frames = list(source.frames())
    assert len(frames) == 10 and frames[0].shape == (120, 160, 3)
    with pytest.raises(ConfigError, match="unknown synthetic scene option 'colour'"):
        open_source("synthetic:colour=3")
    with pytest.raises(ConfigError, match="seed must be a number"):
        open_source("synthetic:seed=x")
    with pytest.raises(ConfigError, match="live must be 0 or 1"):
        open_source("synthetic:live=yes")


def test_a_live_synthetic_camera_never_stops_and_gives_no_frame_before_its_time() -> None:
    source = open_source("synthetic:seed=2,seconds=0.5,fps=10,width=96,height=64,people=1,"
                         "vehicles=0,live=1")
    start = time.monotonic()
    frames, arrivals = [], []
    for frame in itertools.islice(source.frames(), 12):  # past the end of the first scene
        arrivals.append(time.monotonic() - start)
        frames.append(frame)
    assert all(at >= index / 10 - 0.005 for index, at in enumerate(arrivals)), arrivals
    assert np.abs(frames[5].astype(int) - frames[0].astype(int)).mean() > 10  # a new scene
