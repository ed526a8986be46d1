"""Vault cost: what encrypting raw video adds to recording it, and how many camera streams one
core can encrypt.

1. A 1080p stream (generated street, 25 fps) is recorded into the vault in 10-second segments.
   CPU time (all threads, ``time.process_time``) is split into (a) recording: encoding the
   segments, and (b) what the vault adds: AES-256-GCM, SHA-256, key wrapping, the fsynced file
   and the index row. Prints the ratio (a + b) / a (target <= 1.05), and, for reference, the
   wall-clock frames/s of encoding alone and with the vault, run alternately.
2. Encrypting 5 MB segments (10 s of a 4 Mbit/s camera) through ``Vault.store`` on one thread:
   segments/s and so how many 4 Mbit/s streams one core keeps up with; and raw AES-256-GCM MB/s.

    python bench/vault.py [--seconds 20]
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import harness  # puts the repository on the import path

from audit.log import AuditLog
from audit.note import NoteSigner
from nodes.media import ClipEncoder
from nodes.vault.recorder import SegmentRecorder
from nodes.vault.vault import Vault
from privacy.envelope import encrypt, new_key
from privacy.signing import SigningKey
from simulation.synthetic import Scene, SceneSpec

STREAM_BYTES_PER_SECOND = 4_000_000 / 8


def record_plain(frames: list, fps: float, per_segment: int) -> float:
    started = time.perf_counter()
    encoder = None
    for image in frames:
        if encoder is None:
            encoder = ClipEncoder(fps)
        encoder.add(image)
        if encoder.frames >= per_segment:
            encoder.finish()
            encoder = None
    if encoder is not None:
        encoder.finish()
    return len(frames) / (time.perf_counter() - started)


def record_vault(frames: list, fps: float, vault: Vault, segment_seconds: float) -> float:
    started = time.perf_counter()
    recorder = SegmentRecorder(vault, "bench", fps, datetime.now(UTC), segment_seconds)
    for _ in recorder.tee(frames):
        pass
    return len(frames) / (time.perf_counter() - started)


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    spec = SceneSpec(width=1920, height=1080, fps=25.0, seconds=args.seconds, people=6,
                     vehicles=2, face_sizes=(48, 240), plate_widths=(135, 330), seed=5)
    frames = [f for f, _ in Scene(spec).frames()]
    with tempfile.TemporaryDirectory() as tmp:
        signer = NoteSigner("bench.safecity/node", SigningKey.generate())
        log = AuditLog(f"sqlite:///{Path(tmp) / 'audit.sqlite'}", signer)
        vault = Vault(Path(tmp) / "vault", new_key(), "bench", log)
        per_segment = int(10 * spec.fps)
        store_cpu = 0.0
        original_store = vault.store

        def timed_store(*a, **k):  # type: ignore[no-untyped-def]
            nonlocal store_cpu
            before = time.process_time()
            try:
                return original_store(*a, **k)
            finally:
                store_cpu += time.process_time() - before

        vault.store = timed_store  # type: ignore[method-assign]
        started = time.process_time()
        record_vault(frames, spec.fps, vault, 10.0)
        total_cpu = time.process_time() - started
        vault.store = original_store  # type: ignore[method-assign]
        recording = total_cpu - store_cpu
        plain, vaulted = [], []
        for _ in range(2):  # alternate, so drift in the machine's speed hits both
            plain.append(record_plain(frames, spec.fps, per_segment))
            vaulted.append(record_vault(frames, spec.fps, vault, 10.0))
        print(f"1080p, {args.seconds:.0f} s in 10-s segments: CPU (a) recording {recording:.2f} s, "
              f"(b) vault {store_cpu:.3f} s -> (a + b) / a = {total_cpu / recording:.4f}; "
              f"wall: encode only {max(plain):.1f} frames/s, with vault {max(vaulted):.1f}")

        segment = os.urandom(int(10 * STREAM_BYTES_PER_SECOND))
        count = 40
        started = time.perf_counter()
        for _ in range(count):
            vault.store("bench-store", datetime(2026, 1, 1, tzinfo=UTC),
                        datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC), segment)
        per_second = count / (time.perf_counter() - started)
        key = new_key()
        started = time.perf_counter()
        for _ in range(count):
            encrypt(key, segment, b"")
        gcm = count * len(segment) / (time.perf_counter() - started) / 1e6
        print(f"Vault.store of 5 MB segments (10 s at 4 Mbit/s): {per_second:.1f} segments/s "
              f"-> one core keeps up with {per_second * 10:.0f} streams of 4 Mbit/s "
              f"(AES-256-GCM alone: {gcm:.0f} MB/s = {gcm * 1e6 / STREAM_BYTES_PER_SECOND:.0f} "
              "streams)")
        vault.close()
        log.close()


if __name__ == "__main__":
    main()
