"""The README's main job (``safecity demo``) as a real process, and what it left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoRun:
    out: Path
    returncode: int
    stdout: str
    stderr: str


def run_demo(out: Path, model_dir: Path, timeout: float = 600) -> DemoRun:
    process = subprocess.Popen(
        [sys.executable, "-c", "from nodes.cli import main; main()", "demo", "--out", str(out),
         "--model-dir", str(model_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:  # take its SuperLink, SuperNodes and workers with it
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return DemoRun(out, process.returncode, stdout, stderr)
