"""Analytics cost on one stream: a node run (redaction, plate reading, redacted output) with and
without analytics (motion blobs, tracking, rules, events), in one process, on the same input.

Inputs: a generated 1280x720 street clip, and OpenCV's real `vtest.avi` (768x576, Debian
`opencv-doc`). Prints frames/s of each run and the analytics overhead ratio.
Target (issue 6): analytics plus redaction on one 720p stream >= 10 frames/s on 2 cores.

    python bench/analytics.py [--seconds 8]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import harness

from nodes.config import load_settings
from nodes.node import run_node
from simulation.synthetic import SceneSpec, write_scene_video

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
RULES = """
[[cameras.analytics.zones]]
id = "all"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
[[cameras.analytics.lines]]
id = "middle"
a = [0.5, 0.0]
b = [0.5, 1.0]
[[cameras.analytics.rules]]
type = "loitering"
id = "loiter"
zone = "all"
seconds = 20
[[cameras.analytics.rules]]
type = "line_crossing"
id = "count"
line = "middle"
[[cameras.analytics.rules]]
type = "occupancy"
id = "busy"
zone = "all"
max_count = 10
"""


def run(source: Path, folder: Path, model_dir: Path, seconds: float, analytics: bool) -> tuple:
    folder.mkdir(parents=True)
    config = folder / "node.toml"
    config.write_text(f'site_id = "bench"\ndata_dir = "{folder / "data"}"\n'
                      f'[[cameras]]\nid = "cam"\nsource = "{source}"\nmax_seconds = {seconds}\n'
                      + (RULES if analytics else ""))
    started = time.perf_counter()
    (report,) = run_node(load_settings(config, model_dir=model_dir))
    elapsed = time.perf_counter() - started
    assert report.status == "ok", report.error
    return report.summary["frames"] / elapsed, report.events


def main() -> None:
    args = harness.parser(__doc__)
    args.add_argument("--seconds", type=float, default=8.0)
    options = args.parse_args()
    with tempfile.TemporaryDirectory(prefix="safecity-bench-analytics-") as tmp:
        root = Path(tmp)
        clip = root / "street-720p.mp4"
        write_scene_video(clip, SceneSpec(width=1280, height=720, seconds=options.seconds,
                                          people=8, vehicles=3, seed=5))
        inputs = [("generated 1280x720", clip)]
        if VTEST.exists():
            inputs.append(("vtest.avi 768x576", VTEST))
        for name, source in inputs:
            plain, _ = run(source, root / f"{name[:5]}-a", options.model_dir, options.seconds,
                           False)
            full, events = run(source, root / f"{name[:5]}-b", options.model_dir,
                               options.seconds, True)
            print(f"{name}: redaction only {plain:.1f} frames/s; redaction + analytics "
                  f"{full:.1f} frames/s ({events} events); overhead x{plain / full:.2f}  "
                  "(target >= 10 frames/s at 720p)")


if __name__ == "__main__":
    main()
