"""A node with several cameras: each isolated, bad configuration caught at load time."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from kernel.errors import ConfigError
from nodes.config import load_settings
from nodes.node import run_node


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_one_broken_camera_does_not_stop_the_others(tmp_path: Path, model_dir: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(20_000))
    config = write(tmp_path / "node.toml", f"""
site_id = "test-site"
data_dir = "{tmp_path / 'data'}"
reconnect_attempts = 0
[[cameras]]
id = "broken-file"
source = "{corrupt}"
[[cameras]]
id = "street"
source = "synthetic:seed=4,seconds=1,width=320,height=240,people=2,vehicles=1"
[cameras.redaction]
style = "pixelate"
""")
    reports = run_node(load_settings(config, model_dir=model_dir))
    by_id = {r.camera: r for r in reports}
    assert [r.camera for r in reports] == ["broken-file", "street"]
    assert by_id["broken-file"].status == "failed"
    assert "not a readable video" in str(by_id["broken-file"].error)
    assert not by_id["broken-file"].unreachable  # broken, not down: not retried
    assert by_id["street"].status == "ok", by_id["street"].error
    assert by_id["street"].summary["frames"] == 25
    redacted = sorted(p.name for p in (tmp_path / "data" / "redacted").iterdir())
    assert redacted == ["street.mp4", "street.regions.jsonl"]
    with av.open(str(tmp_path / "data" / "redacted" / "street.mp4")) as container:
        assert container.streams.video[0].frames == 25


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("site_id = \"x\"\n[[cameras]]\nid = \"Cam 1\"\nsource = \"a.mp4\"\n", "cameras.0.id"),
        ("[[cameras]]\nid = \"a\"\nsource = \"a.mp4\"\n[cameras.redaction]\nstyle = \"paint\"\n",
         "cameras.0.redaction.style"),
        ("[[cameras]]\nid = \"a\"\nsource = \"x\"\n[[cameras]]\nid = \"a\"\nsource = \"y\"\n",
         "camera ids must be unique, repeated: a"),
        ("[redaction]\nmargin = -1\n", "redaction.margin"),
        ("colour = 3\n", "colour: Extra inputs are not permitted"),
        ("site_id = \n", "cannot parse"),
    ],
    ids=["camera-id", "style", "duplicate", "margin", "unknown-key", "syntax"],
)
def test_configuration_errors_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_settings(write(tmp_path / "bad.toml", text))


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "n.toml", 'site_id = "from-file"\n')
    monkeypatch.setenv("SAFECITY_SITE_ID", "from-env")
    monkeypatch.setenv("SAFECITY_REDACTION__STYLE", "blur")
    settings = load_settings(config)
    assert settings.site_id == "from-env" and settings.redaction.style == "blur"


def test_node_without_cameras_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no cameras configured"):
        run_node(load_settings(write(tmp_path / "n.toml", "")))
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "absent.toml")


def test_node_with_a_vault_records_raw_video_encrypted(tmp_path: Path, model_dir: Path) -> None:
    from nodes.vault.site import initialise, open_vault

    config = write(tmp_path / "node.toml", f"""
site_id = "vaulted"
data_dir = "{tmp_path / 'data'}"
segment_seconds = 0.5
[[cameras]]
id = "street"
source = "synthetic:seed=4,seconds=1.2,width=320,height=240,people=2,vehicles=1,fps=10"
""")
    settings = load_settings(config, model_dir=model_dir)
    initialise(settings)
    (report,) = run_node(settings)
    assert report.status == "ok" and report.segments_recorded == 3
    with open_vault(settings) as opened:
        assert len(opened.vault.segments(["street"])) == 3
        assert opened.vault.check().clean
