"""The `safecity` command, run as users run it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from nodes.media import VideoWriter, write_image
from simulation.synthetic import Scene, SceneSpec, write_scene_video

SMALL = SceneSpec(width=320, height=240, seconds=1.2, people=2, vehicles=1,
                  face_sizes=(40, 60), plate_widths=(70, 90), seed=4)


def safecity(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from nodes.cli import main; main()", *args]
    return subprocess.run(command, check=False, capture_output=True, text=True, cwd=cwd,
                          timeout=300, env=os.environ | {"PYTHONWARNINGS": "ignore"})


def leftovers(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name == name or ".partial" in p.name)


def test_help_lists_the_commands() -> None:
    done = safecity("--help")
    assert done.returncode == 0
    for command in ("redact", "models", "node", "demo"):
        assert command in done.stdout


def test_redact_video_writes_video_audio_and_boxes(scene_video, tmp_path: Path) -> None:
    source, spec, _ = scene_video
    target, boxes = tmp_path / "out.mp4", tmp_path / "boxes.jsonl"
    done = safecity("redact", str(source), str(target), "--boxes", str(boxes), "--style", "blur")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["frames"] == spec.frame_count and summary["regions"]["face"] > 0
    # the progress bar: frames of the total, with the time left
    assert re.search(rf"{spec.frame_count}/{spec.frame_count} \[\d\d:\d\d<\d\d:\d\d",
                     done.stderr), done.stderr
    with av.open(str(target)) as container:
        assert container.streams.audio and container.streams.video
    record = json.loads(boxes.read_text().splitlines()[0])
    assert set(record) == {"frame", "kind", "box", "score", "track", "detected"}
    assert leftovers(tmp_path, "nothing") == []


def test_every_redact_option_has_help() -> None:
    done = safecity("redact", "--help")
    assert done.returncode == 0
    options = re.findall(r"^  (--[\w-]+)(.*)$", done.stdout, re.MULTILINE)
    assert "--shape" in [name for name, _ in options]
    assert "Outline of each hidden region" in done.stdout
    assert all(rest.strip() for _, rest in options), options  # a name alone: no help


def test_redact_image(tmp_path: Path) -> None:
    frame, truth = Scene(SceneSpec(seed=101, people=4, vehicles=1)).render(0.0)
    source = write_image(tmp_path / "in.png", frame)
    done = safecity("redact", str(source), str(tmp_path / "out.png"), "-q",
                    "--boxes", str(tmp_path / "b.jsonl"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.png").exists()
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert kinds.count("face") >= len([t for t in truth if t.kind == "face"]) - 1


def _truncated(tmp_path: Path, suffix: str) -> Path:
    whole = tmp_path / f"whole{suffix}"
    write_scene_video(whole, SMALL)
    cut = tmp_path / f"cut{suffix}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    return cut


def _zero_frames(tmp_path: Path) -> Path:
    path = tmp_path / "zero.mkv"
    writer = VideoWriter(path, 320, 240, 25, audio_rate=16000)
    for _ in range(8):
        writer.write_samples(np.zeros(1024, np.float32), 16000)
    writer.commit()
    return path


def _unknown_codec(tmp_path: Path) -> Path:
    whole = tmp_path / "whole.mkv"
    write_scene_video(whole, SMALL, audio=False)
    data = whole.read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    path = tmp_path / "unknown-codec.mkv"
    path.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_MPEG4/ISO/XYZ"))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.mp4", "missing.mp4: no such file"),
        (lambda d: _truncated(d, ".mp4"), "not a readable video"),
        (lambda d: _truncated(d, ".mkv"), "video is truncated"),
        (lambda d: (d / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(50_000))
         and d / "noise.mp4", "not a readable video"),
        (_zero_frames, "video has no decodable frames"),
        (_unknown_codec, "unsupported video codec"),
        (lambda d: (d / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage") and d / "bad.png",
         "not a readable image"),
        (lambda d: d, "is a folder, not a video"),
    ],
    ids=["missing", "truncated-mp4", "truncated-mkv", "corrupt", "zero-frames",
         "unknown-codec", "corrupt-image", "folder"],
)
def test_bad_input_gives_one_clear_line_and_no_output(tmp_path: Path, make, message: str) -> None:
    source = make(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / ("result.png" if str(source).endswith(".png") else "result.mp4")
    done = safecity("redact", str(source), str(target), "--boxes", str(out_dir / "b.jsonl"))
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    if message != "video is truncated":  # failed before a frame: no progress bar drawn at all
        assert done.stderr.strip() == errors[0]
    else:  # failed part way: the bar is erased, the error is the last line
        assert done.stderr.rstrip().endswith(errors[0]) and " 0frame" not in done.stderr
    assert "Traceback" not in done.stderr
    assert list(out_dir.iterdir()) == []  # nothing half-written, nothing looking complete


def test_output_errors_are_clear(scene_video, tmp_path: Path) -> None:
    source, _, _ = scene_video
    done = safecity("redact", str(source), str(tmp_path / "nowhere" / "o.mp4"), "-q")
    assert done.returncode == 1 and "does not exist" in done.stderr
    done = safecity("redact", str(source), str(source), "-q")
    assert done.returncode == 1 and "overwrite the input" in done.stderr
    done = safecity("redact", str(source), str(tmp_path / "o.gif"), "-q")
    assert done.returncode == 1 and "unsupported output type" in done.stderr
    done = safecity("redact", str(source), str(tmp_path / "o.mp4"), "--margin", "-1")
    assert done.returncode == 2 and "margin" in done.stderr.lower()


def test_missing_models_name_the_fix(scene_video, tmp_path: Path) -> None:
    source, _, _ = scene_video
    done = safecity("redact", str(source), str(tmp_path / "o.mp4"),
                    "--model-dir", str(tmp_path / "empty"))
    assert done.returncode == 1
    assert "safecity models install" in done.stderr and "Traceback" not in done.stderr
