"""The vault: segments encrypted under their own data key, data keys wrapped under a per-camera,
per-day key, day keys wrapped under the node's master key.

* Retention is cryptographic: the purge destroys the day keys past retention, then deletes the
  ciphertext. A purged segment cannot be decrypted, even with the master key.
* A legal hold re-wraps the held segments' data keys under a case key (itself wrapped under the
  master key), so they survive the purge until the hold ends.
* Every segment's metadata (id, camera, times, day key) is authenticated as AES-GCM associated
  data, and the index keeps each ciphertext's SHA-256: a flipped byte in a segment, its wrapped key
  or its index row is detected and the segment is never played.
* Every purge, hold and key release is written to the node's audit log before it happens.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from audit.log import AuditLog
from audit.records import Action, Actor, Event, LegalBasis, Scope, Window, rfc3339
from kernel.atomic_file import write_atomic
from kernel.canonical import canonical_json
from nodes.errors import VaultError
from nodes.retention import Retention
from nodes.vault import index
from privacy.envelope import decrypt, encrypt, new_key, unwrap, wrap
from privacy.errors import IntegrityError

MAGIC = b"SCVAULT1"
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Segment:
    id: str
    camera: str
    start: datetime
    end: datetime
    day_key: str
    sha256: str
    size: int
    state: str


@dataclass
class CheckReport:
    checked: int = 0
    damaged: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # incomplete writes cleaned after a crash

    @property
    def clean(self) -> bool:
        return not self.damaged


@dataclass(frozen=True)
class PurgeReport:
    day_keys_destroyed: int
    segments_deleted: int
    segments_kept_on_hold: int


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise VaultError("times must carry a time zone (UTC)")
    return moment.astimezone(UTC)


class Vault:
    def __init__(self, folder: Path, master: bytes, site: str, audit_log: AuditLog,
                 retention_days: dict[str, int] | None = None, default_retention_days: int = 30,
                 clock: Clock = lambda: datetime.now(UTC), reserve_bytes: int = 0):
        self.folder = folder
        self.reserve_bytes = reserve_bytes
        self.segments_dir = folder / "segments"
        self.segments_dir.mkdir(parents=True, exist_ok=True)
        self.db = index.connect(folder / "index.sqlite")
        self._lock = threading.Lock()
        self.site = site
        self.audit = audit_log
        self.retention = Retention(retention_days or {}, default_retention_days)
        self.clock = clock
        self._master = master
        self._actor = Actor(pseudonym=f"vault-{site}", role="node", agency=site)
        fingerprint = hashlib.sha256(b"vault master\n" + master).hexdigest()[:16]
        stored = self._meta("master")
        if stored is None:
            self._set_meta("master", fingerprint)
        elif stored != fingerprint:
            raise VaultError("wrong master key for this vault (fingerprint mismatch)")

    # ---- keys -------------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _day_key(self, camera: str, day: str, create: bool) -> tuple[str, bytes]:
        row = self.db.execute("SELECT id, wrapped FROM day_keys WHERE camera = ? AND day = ?",
                              (camera, day)).fetchone()
        if row is not None:
            return row[0], unwrap(self._master, row[1])
        if not create:
            raise VaultError(f"no key for camera {camera} on {day}: purged (retention)")
        key = new_key()
        ident = f"{camera}/{day}"
        self.db.execute("INSERT INTO day_keys (id, camera, day, wrapped, created) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (ident, camera, day, wrap(self._master, key), rfc3339(self.clock())))
        return ident, key

    def _day_key_by_id(self, ident: str) -> bytes | None:
        row = self.db.execute("SELECT wrapped FROM day_keys WHERE id = ?", (ident,)).fetchone()
        return None if row is None else unwrap(self._master, row[0])

    # ---- writing ----------------------------------------------------------------------------

    @staticmethod
    def _aad(segment_id: str, camera: str, start: datetime, end: datetime, day_key: str) -> bytes:
        return canonical_json({"segment": segment_id, "camera": camera, "start": rfc3339(start),
                               "end": rfc3339(end), "day_key": day_key})

    def _path(self, segment_id: str) -> Path:
        return self.segments_dir / f"{segment_id}.seg"

    def store(self, camera: str, start: datetime, end: datetime, video: bytes) -> str:
        """Encrypt one raw segment and file it. The index row is written first in state
        'writing', so a crash at any point leaves either nothing or a recoverable record.
        Safe to call from several camera threads."""
        with self._lock:
            return self._store(camera, start, end, video)

    def _store(self, camera: str, start: datetime, end: datetime, video: bytes) -> str:
        start, end = _utc(start), _utc(end)
        if not end > start:
            raise VaultError("a segment must end after it starts")
        day_id, day_key = self._day_key(camera, start.date().isoformat(), create=True)
        segment_id = uuid.uuid4().hex
        data_key = new_key()
        blob = MAGIC + encrypt(data_key, video, self._aad(segment_id, camera, start, end, day_id))
        self._require_space(len(blob))
        digest = hashlib.sha256(blob).hexdigest()
        self.db.execute(
            "INSERT INTO segments (id, camera, start, end, day_key, wrapped_key, sha256, size, "
            "state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'writing')",
            (segment_id, camera, rfc3339(start), rfc3339(end), day_id, wrap(day_key, data_key),
             digest, len(blob)))
        try:
            write_atomic(self._path(segment_id), blob)
        except BaseException:
            self.db.execute("DELETE FROM segments WHERE id = ?", (segment_id,))
            raise
        self.db.execute("UPDATE segments SET state = 'ok' WHERE id = ?", (segment_id,))
        return segment_id

    def _require_space(self, size: int) -> None:
        """Refuse a segment that would leave less than the reserve free: the disk keeps room
        for the audit log and the node's databases, so the refusal itself can be recorded."""
        free = shutil.disk_usage(self.segments_dir).free
        if free < size + self.reserve_bytes:
            raise VaultError(
                f"the disk holding the vault is full: {free // 2**20} MB free, a segment of "
                f"{size // 2**10} kB needs {(size + self.reserve_bytes) // 2**20 + 1} MB with the "
                "reserve (vault_reserve_mb); nothing was written. Free space or shorten retention")

    # ---- reading ----------------------------------------------------------------------------

    def _row(self, segment_id: str) -> tuple:
        row = self.db.execute(
            "SELECT id, camera, start, end, day_key, wrapped_key, sha256, size, state "
            "FROM segments WHERE id = ?", (segment_id,)).fetchone()
        if row is None:
            raise VaultError(f"unknown segment {segment_id}")
        return row

    def segments(self, cameras: list[str] | None = None, start: datetime | None = None,
                 end: datetime | None = None) -> list[Segment]:
        query = "SELECT id, camera, start, end, day_key, sha256, size, state FROM segments"
        rows = self.db.execute(query + " ORDER BY camera, start").fetchall()
        found = []
        for r in rows:
            seg = Segment(r[0], r[1], datetime.fromisoformat(r[2]), datetime.fromisoformat(r[3]),
                          r[4], r[5], r[6], r[7])
            if cameras is not None and seg.camera not in cameras:
                continue
            if start is not None and seg.end <= _utc(start):
                continue
            if end is not None and seg.start >= _utc(end):
                continue
            found.append(seg)
        return found

    def _data_key(self, row: tuple) -> bytes:
        segment_id, day_id, wrapped = row[0], row[4], row[5]
        held = self.db.execute(
            "SELECT h.wrapped_case_key, hs.wrapped_key FROM held_segments hs "
            "JOIN holds h ON h.id = hs.hold WHERE hs.segment = ? AND h.until > ?",
            (segment_id, rfc3339(self.clock()))).fetchone()
        if held is not None:
            return unwrap(unwrap(self._master, held[0]), held[1])
        day_key = self._day_key_by_id(day_id)
        if day_key is None:
            raise VaultError(f"segment {segment_id} is past retention: its key was destroyed")
        return unwrap(day_key, wrapped)

    def read(self, segment_id: str) -> bytes:
        """Decrypt one segment after checking its hash and tag; never returns altered data."""
        row = self._row(segment_id)
        if row[8] != "ok":
            raise VaultError(f"segment {segment_id} is {row[8]}, not readable")
        try:
            blob = self._path(segment_id).read_bytes()
        except FileNotFoundError:
            raise VaultError(f"segment {segment_id}: ciphertext file is missing") from None
        if hashlib.sha256(blob).hexdigest() != row[6] or not blob.startswith(MAGIC):
            raise IntegrityError(f"segment {segment_id}: ciphertext does not match its index")
        start, end = datetime.fromisoformat(row[2]), datetime.fromisoformat(row[3])
        if row[4] != f"{row[1]}/{start.date().isoformat()}":
            raise IntegrityError(f"segment {segment_id}: index row is inconsistent (day key)")
        data_key = self._data_key(row)
        return decrypt(data_key, blob[len(MAGIC):],
                       self._aad(segment_id, row[1], start, end, row[4]))

    # ---- retention and holds ----------------------------------------------------------------

    def _log(self, action: Action, outcome: str, scope: Scope, counts: int = 0,
             details: dict | None = None, legal_basis: LegalBasis = LegalBasis.STATUTE,
             warrant_id: str | None = None, recipients: tuple[str, ...] = ()) -> None:
        self.audit.append(Event(actor=self._actor, action=action, legal_basis=legal_basis,
                                outcome=outcome, scope=scope, counts_returned=counts,
                                warrant_id=warrant_id, recipients=recipients,
                                details=details or {}))

    def purge(self) -> PurgeReport:
        """Destroy every day key past its camera's retention, then delete its ciphertext
        (segments on an active hold are kept: their keys are wrapped under a case key)."""
        now = self.clock()
        today = now.date()
        expired = []
        for ident, camera, day in self.db.execute("SELECT id, camera, day FROM day_keys"):
            if date.fromisoformat(day) < self.retention.first_kept_day(camera, today):
                expired.append((ident, camera, day))
        held = self.held(now)
        doomed = [r for r in self.db.execute(
            "SELECT id, day_key FROM segments WHERE day_key NOT IN "
            "(SELECT id FROM day_keys)").fetchall() if r[0] not in held]
        for ident, _camera, _day in expired:
            doomed += [r for r in self.db.execute(
                "SELECT id, day_key FROM segments WHERE day_key = ?", (ident,)).fetchall()
                if r[0] not in held]
        if not expired and not doomed:
            return PurgeReport(0, 0, len(held))
        cameras = tuple(sorted({c for _, c, _ in expired}))
        self._log(Action.RETENTION_PURGE, "purged", Scope(sites=(self.site,), cameras=cameras),
                  counts=len(doomed), details={"days": sorted(f"{c}/{d}" for _, c, d in expired)})
        for ident, _, _ in expired:  # crypto-shredding first...
            self.db.execute("DELETE FROM day_keys WHERE id = ?", (ident,))
        for segment_id, _ in doomed:  # ...then the ciphertext
            self._path(segment_id).unlink(missing_ok=True)
            self.db.execute("DELETE FROM segments WHERE id = ?", (segment_id,))
        self.db.execute("DELETE FROM held_segments WHERE hold IN "
                        "(SELECT id FROM holds WHERE until <= ?)", (rfc3339(now),))
        return PurgeReport(len(expired), len(doomed), len(held))

    def held(self, now: datetime) -> set[str]:
        """The segments on a hold still active at ``now``."""
        return {r[0] for r in self.db.execute(
            "SELECT hs.segment FROM held_segments hs JOIN holds h ON h.id = hs.hold "
            "WHERE h.until > ?", (rfc3339(now),))}

    def hold(self, case_id: str, cameras: list[str], start: datetime, end: datetime,
             reason: str, until: datetime) -> int:
        """Place the segments in scope on legal hold until ``until``; return how many."""
        in_scope = self.segments(cameras, start, end)
        scope = Scope(sites=(self.site,), cameras=tuple(cameras),
                      window=Window(start=rfc3339(_utc(start)), end=rfc3339(_utc(end))))
        self._log(Action.LEGAL_HOLD, "placed", scope, counts=len(in_scope),
                  details={"case_id": case_id, "reason": reason, "until": rfc3339(_utc(until))})
        case_key = new_key()
        hold_id = uuid.uuid4().hex
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                "INSERT INTO holds (id, case_id, cameras, start, end, reason, until, "
                "wrapped_case_key, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (hold_id, case_id, json.dumps(cameras), rfc3339(_utc(start)),
                 rfc3339(_utc(end)), reason, rfc3339(_utc(until)), wrap(self._master, case_key),
                 rfc3339(self.clock())))
            for segment in in_scope:
                data_key = self._data_key(self._row(segment.id))
                self.db.execute("INSERT INTO held_segments (hold, segment, wrapped_key) "
                                "VALUES (?, ?, ?)", (hold_id, segment.id, wrap(case_key, data_key)))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return len(in_scope)

    # ---- integrity --------------------------------------------------------------------------

    def check(self, quarantine: bool = True) -> CheckReport:
        """Verify every segment's hash and tag against its index row; quarantine damage;
        finish or clean up writes a crash interrupted."""
        report = CheckReport()
        for stray in self.segments_dir.glob(".*.partial"):
            stray.unlink()
            report.recovered.append(f"{stray.name}: incomplete write removed")
        for (segment_id, state) in self.db.execute(
                "SELECT id, state FROM segments").fetchall():
            if state == "writing":
                if self._path(segment_id).exists():
                    self.db.execute("UPDATE segments SET state = 'ok' WHERE id = ?",
                                    (segment_id,))
                else:
                    self.db.execute("DELETE FROM segments WHERE id = ?", (segment_id,))
                    report.recovered.append(f"{segment_id}: segment lost in a crash, removed")
                    continue
            if state == "quarantined":
                report.damaged.append(f"{segment_id}: quarantined earlier")
                continue
            report.checked += 1
            try:
                self.read(segment_id)
            except (IntegrityError, VaultError) as exc:
                if "past retention" in str(exc):
                    continue
                report.damaged.append(f"{segment_id}: {exc}")
                if quarantine:
                    self.db.execute("UPDATE segments SET state = 'quarantined' WHERE id = ?",
                                    (segment_id,))
        known = {r[0] for r in self.db.execute("SELECT id FROM segments")}
        for path in self.segments_dir.glob("*.seg"):
            if path.stem not in known:
                report.damaged.append(f"{path.name}: ciphertext with no index row")
        return report

    def rotate_master(self, new_master: bytes) -> int:
        """Re-wrap every day key and case key under ``new_master``; video is not re-encrypted."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            rows = self.db.execute("SELECT id, wrapped FROM day_keys").fetchall()
            for ident, wrapped in rows:
                self.db.execute("UPDATE day_keys SET wrapped = ? WHERE id = ?",
                                (wrap(new_master, unwrap(self._master, wrapped)), ident))
            holds = self.db.execute("SELECT id, wrapped_case_key FROM holds").fetchall()
            for ident, wrapped in holds:
                self.db.execute("UPDATE holds SET wrapped_case_key = ? WHERE id = ?",
                                (wrap(new_master, unwrap(self._master, wrapped)), ident))
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'master'",
                            (hashlib.sha256(b"vault master\n" + new_master).hexdigest()[:16],))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self._master = new_master
        return len(rows) + len(holds)

    def close(self) -> None:
        self.db.close()
