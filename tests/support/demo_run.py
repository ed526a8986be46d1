"""The README's main job (``safecity demo``) as a real process, and what it left behind.

It runs with ``--serve``: once the demo says it is serving its portal, the portal is fetched
while the run holds it up, then the run is stopped with SIGTERM as a service manager would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class DemoRun:
    out: Path  # this run's own folder, made by the demo inside the --out folder
    returncode: int
    stdout: str
    stderr: str
    progress_before_results: int  # progress lines on stderr before the first result line
    portal_while_serving: int | None  # the portal's HTTP status while --serve held it up


def run_demo(out: Path, model_dir: Path, timeout: float = 1800) -> DemoRun:
    process = subprocess.Popen(
        [sys.executable, "-c", "from nodes.cli import main; main()", "demo", "--out", str(out),
         "--model-dir", str(model_dir), "--serve"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    stdout_lines: list[str] = []
    reader = threading.Thread(target=lambda: stdout_lines.extend(process.stdout or []))
    reader.start()
    stderr_lines: list[str] = []
    progress_before_results: int | None = None
    portal: int | None = None
    timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
    timer.start()  # takes its SuperLink, SuperNodes and workers with it
    try:
        for line in process.stderr or []:
            stderr_lines.append(line)
            if progress_before_results is None and stdout_lines:
                progress_before_results = len(stderr_lines) - 1
            serving = re.search(r"serving the portal at (\S+) until Ctrl-C", line)
            if serving:
                portal = httpx.get(serving.group(1), timeout=30).status_code
                process.send_signal(signal.SIGTERM)
        process.wait()
    finally:
        timer.cancel()
        reader.join()
    runs = sorted(out.glob("run-*"))
    return DemoRun(runs[-1] if runs else out, process.returncode, "".join(stdout_lines),
                   "".join(stderr_lines), progress_before_results or 0, portal)
