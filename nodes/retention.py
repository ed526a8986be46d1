"""Retention at a node: what a camera saw is kept for that camera's ``retention_days`` (the
node's ``retention_days`` otherwise), counted in whole UTC days, and then deleted: raw video by
destroying its day keys (``Vault.purge``), plate sightings, analytics events and zone visits by
deleting their rows (events' clips sooner, at ``evidence_clip_hours``), and body-worn clips'
redacted copies by their recording day
(``purge_stores``). `safecity vault purge` runs both, and each is written to
the node's audit log, with what it deletes, before it deletes anything."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from audit.log import AuditLog
from audit.records import Action, Actor, Event, LegalBasis, Scope, rfc3339
from nodes.bodycam_register import MIGRATIONS as BODYCAM_MIGRATIONS
from nodes.bodycam_register import ClipRegister
from nodes.events import EventStore
from nodes.identity import load_identity
from nodes.local_db import open_store
from nodes.sightings import SightingStore

if TYPE_CHECKING:  # the vault reads its retention from here without loading the settings
    from nodes.config import NodeSettings


@dataclass(frozen=True)
class Retention:
    days: Mapping[str, int]  # per camera; the others keep ``default_days``
    default_days: int

    @classmethod
    def of(cls, settings: NodeSettings) -> Retention:
        return cls({c.id: c.retention_days for c in settings.cameras
                    if c.retention_days is not None}, settings.retention_days)

    def first_kept_day(self, camera: str, today: date) -> date:
        """Today and the ``retention_days`` before it are kept; anything earlier is purged."""
        return today - timedelta(days=self.days.get(camera, self.default_days))

    def cutoff(self, camera: str, now: datetime) -> datetime:
        """The oldest moment kept: the start (UTC) of the camera's first kept day."""
        return datetime.combine(self.first_kept_day(camera, now.astimezone(UTC).date()), time(),
                                UTC)


def purge_stores(settings: NodeSettings, audit: AuditLog, now: datetime,
                 held: Collection[str]) -> dict[str, int]:
    """Delete the plate sightings, events, their evidence and visits past their camera's
    retention, and the redacted copies of body-worn clips recorded on a day past their
    device's retention unless their vault segment is in ``held`` (``Vault.held``: on an
    active legal hold); how many of each went. A store the node never wrote is left alone
    (nothing to purge, no key to make)."""
    retention = Retention.of(settings)
    actor = Actor(pseudonym=f"retention-{settings.site_id}", role="node",
                  agency=settings.site_id)

    def cutoff(camera: str) -> datetime:
        return retention.cutoff(camera, now)

    def announce(purpose: str) -> Callable[[dict[str, dict[str, int]]], None]:
        return announce_at(purpose, cutoff)

    def announce_at(purpose: str, before: Callable[[str], datetime]
                    ) -> Callable[[dict[str, dict[str, int]]], None]:
        def log(doomed: dict[str, dict[str, int]]) -> None:
            cameras = sorted({c for per_camera in doomed.values() for c in per_camera})
            audit.append(Event(
                actor=actor, action=Action.RETENTION_PURGE, legal_basis=LegalBasis.STATUTE,
                purpose_code=purpose, outcome="purged",
                scope=Scope(sites=(settings.site_id,), cameras=tuple(cameras)),
                counts_returned=sum(sum(c.values()) for c in doomed.values()),
                details={"rows": {table: sum(c.values()) for table, c in doomed.items()},
                         "before": {camera: rfc3339(before(camera)) for camera in cameras}}))
        return log

    deleted = {"sightings_deleted": 0, "events_deleted": 0, "evidence_deleted": 0,
               "visits_deleted": 0, "clip_frames_deleted": 0, "bodycam_clips_deleted": 0}
    if settings.stores.sightings.exists():
        sightings = SightingStore(settings.stores.sightings,
                                  load_identity(settings.keys_dir).plate_key)
        try:
            deleted["sightings_deleted"] = sightings.purge(cutoff,
                                                           announce("plate_sighting_retention"))
        finally:
            sightings.close()
    if settings.stores.events.exists():
        events = EventStore(settings.stores.events)
        try:
            gone = events.purge(cutoff, announce("analytics_event_retention"))
            # clips keep their own, shorter hours (never past the raw video's: the settings)
            clips_before = now - timedelta(hours=settings.evidence_clip_hours)
            gone |= events.purge_clips(clips_before, announce_at(
                "evidence_clip_retention", lambda _: clips_before))
        finally:
            events.close()
        deleted |= {f"{table}_deleted": gone[table]
                    for table in ("events", "evidence", "visits", "clip_frames")}
    if settings.stores.bodycam_nonces.exists():
        store = open_store(settings.stores.bodycam_nonces, BODYCAM_MIGRATIONS)
        try:
            deleted["bodycam_clips_deleted"] = ClipRegister(store).purge(
                settings.data_dir / "redacted" / "bodycam",
                lambda device: retention.first_kept_day(device, now.astimezone(UTC).date()),
                held, lambda per_device: announce("bodycam_clip_retention")(
                    {"redacted_clips": per_device}))
        finally:
            store.close()
    return deleted
