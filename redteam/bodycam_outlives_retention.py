"""Finding (medium, storage limitation; attackers c and "nobody"): body-worn clips outlive the
site's retention.

1. The redacted clip of every body-worn upload (``data/redacted/bodycam/<device>-<sha>.mp4``,
   full length, the officer's audio copied in by ``redact_video_file``) is never deleted:
   ``safecity vault purge`` crypto-shreds the original's day key and ``purge_stores`` deletes
   events, sightings and visits, but nothing touches ``redacted/bodycam``. SECURITY.md (boundary
   6) promises "the vault's retention and holds apply" -- they apply to the ciphertext only, and
   the redacted copy stays for ever (and is what the ``duplicate`` check looks for).
2. ``recorded_at`` is whatever the device signs: nothing bounds it against ``sent_at`` or the
   node's clock. A compromised (or mis-set) device that signs ``recorded_at = 2099-06-01`` gets
   its raw original filed under a 2099 day key, which ``Vault.purge`` will not shred for 73
   years. (The same field in the past files the clip under an already-expired day, shredded at
   the next purge: evidence lost.)

This script runs the real ``safecity node uploads`` (``retention_days = 1``), uploads two real
encoded clips over HTTP signed by the enrolled device -- one recorded three days ago, one
"recorded" in 2099 -- then runs the real ``safecity vault purge`` and lists what is left.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/bodycam_outlives_retention.py
Exit 1 = a clip outlived retention (the finding), 0 = everything past retention was deleted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from nodes.bodycam_claim import claim_for, headers_for
from nodes.config import load_settings
from nodes.vault.site import initialise, open_vault
from privacy.signing import SigningKey
from simulation.synthetic import SceneSpec, write_scene_video

CLI = [sys.executable, "-c", "from nodes.cli import main; main()"]


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="rt-bodycam-ret-"))
    device = SigningKey.generate()
    config = root / "node.toml"
    config.write_text(f'site_id = "site-a"\ndata_dir = "{root / "data"}"\n'
                      'retention_days = 1\nevidence_clip_hours = 24\n'
                      'bodycam_port = 0\nbodycam_max_mb = 8\n'
                      '[[body_cameras]]\nid = "officer-17"\n'
                      f'public_key = "{device.public.text()}"\n')
    settings = load_settings(config)
    initialise(settings)
    clips = []
    for seed in (1, 2):
        clip = root / f"clip{seed}.mp4"
        write_scene_video(clip, SceneSpec(width=320, height=180, seconds=0.6, people=2,
                                          vehicles=0, face_sizes=(40, 60), seed=seed))
        clips.append(clip.read_bytes())
    server = subprocess.Popen([*CLI, "node", "uploads", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env=os.environ.copy())
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["uploads"]
        now = datetime.now(UTC)
        recorded = {"three days ago": now - timedelta(days=3),
                    "2099-06-01 (signed by the device)": datetime(2099, 6, 1, tzinfo=UTC)}
        kept = {}
        for (label, when), data in zip(recorded.items(), clips, strict=True):
            claim = claim_for("officer-17", data, when, now)
            answer = httpx.post(url, content=data, headers=headers_for(claim, device),
                                timeout=300)
            print(f"upload recorded {label}: HTTP {answer.status_code}"
                  + ("" if answer.status_code == 201 else f" {answer.json().get('code')}"))
            if answer.status_code == 201:  # a clip refused at upload cannot outlive anything
                kept[label] = answer.json()
            elif answer.status_code != 422:
                answer.raise_for_status()
    finally:
        server.terminate()
        server.wait(10)

    purge = subprocess.run([*CLI, "vault", "purge", "--config", str(config)],
                           capture_output=True, text=True, env=os.environ.copy(), check=True)
    print("safecity vault purge:", purge.stdout.strip().splitlines()[-1:])

    with open_vault(settings) as opened:
        left = {s.id: s for s in opened.vault.segments(["officer-17"])}
    redacted = settings.data_dir / "redacted" / "bodycam"
    outlived = 0
    for label, answer in kept.items():
        segment = left.get(answer["segment"])
        clip = redacted / f"officer-17-{answer['sha256'][:16]}.mp4"
        print(f"clip recorded {label}: raw original in vault "
              f"{'KEPT (day key ' + segment.day_key + ')' if segment else 'purged'}; "
              f"redacted clip {'KEPT' if clip.exists() else 'deleted'} "
              f"({clip.stat().st_size if clip.exists() else 0} bytes)")
        outlived += bool(segment) or clip.exists()
    print("FINDING: body-worn clips outlive retention_days = 1" if outlived else "held")
    return 1 if outlived else 0


if __name__ == "__main__":
    sys.exit(main())
