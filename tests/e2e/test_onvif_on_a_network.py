"""A node finds and plays an ONVIF camera on its network (network namespaces, a camera
process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest

from tests.unit import test_onvif
from tests.unit.test_onvif import PASSWORD, REPO, USERNAME

clip = test_onvif.clip  # the in-process tests' fixture, an instance of its own here
CAMERA = REPO / "tests" / "support" / "onvif_camera.py"


def test_the_node_finds_and_plays_a_camera_on_its_network(clip: Path, tmp_path: Path,
                                                          model_dir: Path) -> None:
    """Two hosts joined by a veth pair: the camera's and the node's. Discovery by multicast on
    that link, lookup, and `node run` on the stream; no credential in anything the node
    printed or wrote."""
    from tests.support.netns import Network

    if os.geteuid() != 0:
        pytest.fail("this test makes network namespaces: it needs root and iproute2")
    network = Network()
    camera_process = None
    try:
        site, camera_host = network.host("site"), network.host("cam")
        link = network.link(site, camera_host, 1)
        camera_process = subprocess.Popen(
            [*camera_host.within, sys.executable, str(CAMERA),
             "--address", link.b_address, "--video", str(clip), "--username", USERNAME],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert camera_process.stdin and camera_process.stdout
        camera_process.stdin.write(PASSWORD + "\n")
        camera_process.stdin.flush()
        announced = json.loads(camera_process.stdout.readline())
        safecity = [*site.within, str(Path(sys.executable).with_name("safecity"))]

        def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*safecity, *args], check=False, input=stdin, capture_output=True,
                                  text=True, timeout=120, cwd=tmp_path)

        found = run("node", "cameras", "discover", "--timeout", "2")
        assert found.returncode == 0, found.stderr
        [device] = [json.loads(line) for line in found.stdout.splitlines()]
        assert device["urn"] == announced["urn"]
        assert device["xaddrs"] == [announced["device_url"]]
        assert (device["name"], device["location"]) == ("Gate camera", "north-gate")
        assert "1 camera(s) answered" in found.stderr

        credentials = tmp_path / "gate.credentials"
        made = run("node", "cameras", "credentials", "--username", USERNAME, "--out",
                   str(credentials), "--password-stdin", stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        looked_up = run("node", "cameras", "lookup", device["address"], "--credentials",
                        str(credentials))
        assert looked_up.returncode == 0, looked_up.stderr
        source = json.loads(looked_up.stdout)["profiles"][0]["source"]
        assert source == f"onvif://{device['address']}/main"
        refused = run("node", "cameras", "lookup", device["address"])
        assert refused.returncode == 1
        assert refused.stderr.strip() == (f"Error: onvif://{device['address']}: the camera "
                                          "refused the credentials")

        config = tmp_path / "node.toml"
        config.write_text(f"""
site_id = "gate-site"
data_dir = "{tmp_path / 'data'}"
model_dir = "{model_dir}"
log_format = "json"
[[cameras]]
id = "gate"
source = "{source}"
credentials_file = "{credentials}"
max_seconds = 1.0
""")
        node_run = run("node", "run", "--config", str(config))
        assert node_run.returncode == 0, node_run.stderr
        [report] = [json.loads(line) for line in node_run.stdout.splitlines()]
        assert report["status"] == "ok" and report["summary"]["frames"] == 25
        with av.open(str(tmp_path / "data" / "redacted" / "gate.mp4")) as redacted:
            assert redacted.streams.video[0].frames == 25
    finally:
        if camera_process is not None:
            camera_process.kill()
            camera_stderr = camera_process.communicate(timeout=10)[1]
        network.remove()
    # the lookup without credentials, and nothing else, was refused
    assert camera_stderr.count("camera refused: wrong credentials (ONVIF)") == 2, camera_stderr
    assert "RTSP" not in camera_stderr
    outputs = {"stdout/stderr": "".join(r.stdout + r.stderr for r in
                                        (found, made, looked_up, refused, node_run))}
    outputs |= {str(p): p.read_bytes().decode("latin-1") for p in (tmp_path / "data").rglob("*")
                if p.is_file()}
    for place, text in outputs.items():
        for secret in (PASSWORD, USERNAME, "Tr0ub4dor%263"):
            assert secret not in text, f"{secret!r} in {place}"
