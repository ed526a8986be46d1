"""Reading and writing video and images, with clear errors and atomic output.

Video goes through PyAV (FFmpeg): frames are decoded to BGR arrays, re-encoded with libx264, and
the audio stream, if any, is copied packet for packet. Output is written under a temporary name
in the target's folder and renamed only once complete, so a crash or an error never leaves a
partial file under the final name.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from kernel.atomic_file import fsync_path, temporary_sibling, write_atomic
from privacy.errors import MediaError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".ts", ".m4v"}


# What reading a broken container raises: FFmpeg's errors, and metadata that is not UTF-8.
UNREADABLE = (av.error.FFmpegError, UnicodeDecodeError)


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int | None  # container's estimate, None when unknown
    has_audio: bool


class VideoReader:
    """Decode a video file's frames as BGR arrays; audio packets are kept for remuxing."""

    def __init__(self, path: Path):
        if not path.exists():
            raise MediaError(f"{path}: no such file")
        if path.is_dir():
            raise MediaError(f"{path}: is a folder, not a video")
        try:
            self._container = av.open(str(path), mode="r")
        except UNREADABLE as exc:
            raise MediaError(f"{path}: not a readable video ({_reason(exc)})") from None
        self.path = path
        try:
            self.info = self._inspect()
        except UNREADABLE as exc:
            self._container.close()
            raise MediaError(f"{path}: unreadable video header ({_reason(exc)})") from None
        except MediaError:
            self._container.close()
            raise

    def _inspect(self) -> VideoInfo:
        videos = self._container.streams.video
        if not videos:
            raise MediaError(f"{self.path}: contains no video stream")
        self._video = videos[0]
        self._video.thread_type = "AUTO"
        if self._video.codec_context is None or self._video.codec_context.name is None:
            raise MediaError(f"{self.path}: unsupported video codec")
        audios = self._container.streams.audio
        self._audio = audios[0] if audios else None
        rate = self._video.average_rate or self._video.guessed_rate or Fraction(25)
        width, height = self._video.codec_context.width, self._video.codec_context.height
        if not width or not height:
            raise MediaError(f"{self.path}: video stream has no frame size (corrupt header?)")
        return VideoInfo(width, height, float(rate), self._video.frames or None,
                         self._audio is not None)

    @property
    def audio_stream(self) -> av.audio.stream.AudioStream | None:
        return self._audio

    @property
    def video_stream(self) -> av.video.stream.VideoStream:
        return self._video

    def packets(self) -> Iterator[tuple[str, object]]:
        """Yield ``("video", bgr_array)`` for each decoded frame and ``("audio", packet)``."""
        streams = [self._video] + ([self._audio] if self._audio is not None else [])
        decoded = 0
        try:
            for packet in self._container.demux(*streams):
                if packet.stream is self._audio:
                    if packet.dts is not None:
                        yield "audio", packet
                    continue
                for frame in self._video.decode(packet):  # = packet.decode(), typed as video
                    decoded += 1
                    yield "video", frame.to_ndarray(format="bgr24")
        except UNREADABLE as exc:
            raise MediaError(
                f"{self.path}: video is corrupt or truncated after frame {decoded} ({_reason(exc)})"
            ) from None
        if decoded == 0:
            raise MediaError(f"{self.path}: video has no decodable frames")
        promised = self._promised_frames()
        if promised is not None and decoded < 0.9 * promised - 2:
            raise MediaError(
                f"{self.path}: video is truncated: its header promises about {promised} frames, "
                f"only {decoded} could be decoded"
            )

    def _promised_frames(self) -> int | None:
        """Frames the container's header announces (count, or duration x rate), if it says."""
        if self._video.frames:
            return int(self._video.frames)
        if self._video.duration and self._video.time_base:
            seconds = float(self._video.duration * self._video.time_base)
        elif self._container.duration:
            seconds = self._container.duration / av.time_base
        else:
            return None
        return int(seconds * self.info.fps)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def add_h264_stream(container: av.container.OutputContainer, width: int, height: int, fps: float,
                    preset: str = "ultrafast", crf: int = 23) -> av.video.stream.VideoStream:
    """An H.264 yuv420p stream (dimensions rounded down to even, as yuv420p needs)."""
    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height = width - width % 2, height - height % 2
    stream.pix_fmt = "yuv420p"
    stream.options = {"preset": preset, "crf": str(crf)}
    stream.thread_type = "AUTO"
    return stream


class ClipEncoder:
    """Encode BGR frames, one at a time, to an in-memory Matroska H.264 clip: nothing touches
    the disk, and only the compressed clip is held in memory."""

    def __init__(self, fps: float, preset: str = "ultrafast", crf: int = 18):
        self.fps, self.preset, self.crf = fps, preset, crf
        self._buffer = io.BytesIO()
        self._container = av.open(self._buffer, mode="w", format="matroska")
        self._stream: av.video.stream.VideoStream | None = None
        self.frames = 0

    def add(self, image: np.ndarray) -> None:
        if self._stream is None:
            self._stream = add_h264_stream(self._container, image.shape[1], image.shape[0],
                                           self.fps, self.preset, self.crf)
        even = np.ascontiguousarray(image[: self._stream.height, : self._stream.width])
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(even, format="bgr24")):
            self._container.mux(packet)
        self.frames += 1

    def finish(self) -> bytes:
        if self._stream is None:
            self._container.close()
            raise MediaError("no frames to encode")
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        return self._buffer.getvalue()


def decode_clip(data: bytes) -> Iterator[np.ndarray]:
    """Decode an in-memory clip's frames as BGR arrays."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise MediaError("clip has no video stream")
            for frame in container.decode(container.streams.video[0]):
                yield frame.to_ndarray(format="bgr24")
    except UNREADABLE as exc:
        raise MediaError(f"clip is not decodable ({_reason(exc)})") from None


class VideoWriter:
    """Encode BGR frames to H.264 (yuv420p) under a temporary name; ``commit`` publishes it."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: float,
        audio_template: av.audio.stream.AudioStream | None = None,
        preset: str = "ultrafast",
        crf: int = 23,
        audio_rate: int | None = None,
    ):
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise MediaError(f"{path}: unsupported output type {path.suffix!r}; use .mp4 or .mkv")
        self.path = path
        self._tmp = temporary_sibling(path)
        try:
            self._container = av.open(str(self._tmp), mode="w", format=_format_for(path))
            self._video = add_h264_stream(self._container, width, height, fps, preset, crf)
            self._audio = None
            if audio_template is not None:
                self._audio = self._container.add_stream_from_template(audio_template)
            elif audio_rate is not None:  # encode samples we generate (write_samples)
                self._audio = self._container.add_stream("aac", rate=audio_rate)
                self._audio.layout = "mono"
        except (av.error.FFmpegError, ValueError) as exc:
            self._discard()
            raise MediaError(f"{path}: cannot create output ({_reason(exc)})") from None
        self._encodes_audio = audio_template is None and audio_rate is not None
        self._even = (self._video.height, self._video.width)
        self._committed = False

    def write(self, image: np.ndarray) -> None:
        if image.shape[:2] != self._even:
            image = np.ascontiguousarray(image[: self._even[0], : self._even[1]])
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        try:
            for packet in self._video.encode(frame):
                self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise MediaError(f"{self.path}: encoding failed ({_reason(exc)})") from None

    def write_audio(self, packet: av.Packet) -> None:
        if self._audio is None:
            return
        packet.stream = self._audio
        try:
            self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise MediaError(f"{self.path}: writing audio failed ({_reason(exc)})") from None

    def write_samples(self, samples: np.ndarray, rate: int) -> None:
        """Encode mono float32 samples in [-1, 1] (only with ``audio_rate``)."""
        if not self._encodes_audio or self._audio is None:
            raise MediaError(f"{self.path}: writer was not opened with audio_rate")
        frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate = rate
        for packet in self._audio.encode(frame):
            self._container.mux(packet)

    def commit(self) -> Path:
        """Flush the encoder, close, fsync and rename to the final name."""
        try:
            for packet in self._video.encode():
                self._container.mux(packet)
            if self._encodes_audio and self._audio is not None:
                for packet in self._audio.encode():
                    self._container.mux(packet)
            self._container.close()
        except av.error.FFmpegError as exc:
            self._discard()
            raise MediaError(f"{self.path}: finishing the video failed ({_reason(exc)})") from None
        fsync_path(self._tmp)
        os.replace(self._tmp, self.path)
        self._committed = True
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary output (idempotent)."""
        if not self._committed:
            self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(Exception):
            self._container.close()
        self._tmp.unlink(missing_ok=True)


def read_image(path: Path) -> np.ndarray:
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    return decode_image(np.fromfile(path, np.uint8).tobytes(), str(path))


_quiet_decoding = threading.Lock()


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    image = None
    if data:
        # OpenCV's own log lines about a broken file would precede the one error line below
        # (cv2.utils.logging; the level is process-wide, hence the lock)
        with _quiet_decoding:
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
            try:
                image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            finally:
                cv2.utils.logging.setLogLevel(level)
    if image is None:
        raise MediaError(f"{name}: not a readable image (corrupt or unsupported format)")
    return image


def write_image(path: Path, image: np.ndarray) -> Path:
    if not is_image(path):
        raise MediaError(f"{path}: unsupported image type {path.suffix!r}")
    ok, encoded = cv2.imencode(path.suffix.lower(), image)
    if not ok:
        raise MediaError(f"{path}: cannot encode image")
    write_atomic(path, encoded.tobytes())
    return path


def _format_for(path: Path) -> str:
    return {".mkv": "matroska", ".webm": "webm", ".mov": "mov", ".avi": "avi", ".ts": "mpegts",
            ".m4v": "mp4"}.get(path.suffix.lower(), "mp4")


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(":")[-1].strip() or type(exc).__name__
