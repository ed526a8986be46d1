"""The coordinator's periodic jobs: registered warrants past their expiry become expired (each
logged first, so the public report counts it), alerts past ``alert_retention_days`` are
deleted (the purge logged first, with its count); and `coordinator worker --beat` runs them on
its own schedule, in its own process."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from audit.checkpoint import open_checkpoint
from audit.records import Action, PublicRecord
from audit.transparency import transparency_report
from coordinator.db import Alert
from coordinator.housekeeping import housekeeping
from tests.support.world import T0, embedded_world


def public_actions(world) -> list[Action]:  # type: ignore[no-untyped-def]
    return [PublicRecord.from_leaf(e.data).action for e in world.svc.audit.bundle().entries]


def alert(world, node_id: str, seq: int, moment: datetime) -> Alert:  # type: ignore[no-untyped-def]
    return Alert(node_id=node_id, site_id="site-a", seq=seq, type="restricted_area",
                 rule="no-entry", camera="gate", zone="street", line=None, direction=None,
                 time=moment, count=1, tokens=[], received_at=moment, state="open")


def test_expired_warrants_and_old_alerts(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        node = world.add_node("alpha", "site-a")
        lasting = world.registered(expires_at=(T0 + timedelta(days=30)).isoformat())
        ending = world.registered()  # expires two days after T0
        with world.svc.session() as session:
            session.add_all([alert(world, node.node_id, 1, T0 - timedelta(days=100)),
                             alert(world, node.node_id, 2, T0 - timedelta(days=1))])
        first = housekeeping(world.svc)
        assert (first["expired_warrants"], first["purged_alerts"]) == ([], 1)
        world.set_time(T0 + timedelta(days=3))
        done = housekeeping(world.svc)
        assert (done["expired_warrants"], done["purged_alerts"]) == ([ending["warrant_id"]], 0)
        for warrant, status in ((ending, "expired"), (lasting, "registered")):
            seen = world.client.get(f"/warrants/{warrant['warrant_id']}",
                                    headers=world.as_("police"))
            assert seen.json()["status"] == status
        refused = world.client.post("/queries", headers=world.as_("police"), json={
            "warrant_id": ending["warrant_id"], "targets": ["AB12 CDE"]})
        assert refused.status_code == 403 and refused.json()["code"] == "expired", refused.text
        actions = public_actions(world)
        assert actions.count(Action.WARRANT_EXPIRED) == 1
        assert actions.count(Action.RETENTION_PURGE) == 1
        again = housekeeping(world.svc)
        assert (again["expired_warrants"], again["purged_alerts"]) == ([], 0)
        assert public_actions(world).count(Action.WARRANT_EXPIRED) == 1  # once only
        report = world.client.get("/portal/report.json").json()["report"]
        assert sum(m.get("warrant_expired", 0) for m in report["warrants_by_month"].values()) == 1
    finally:
        world.close()


def test_the_portal_serves_the_report_the_job_published(tmp_path: Path) -> None:
    """Anyone may load the portal: it serves the stored report (at the checkpoint the job last
    verified) instead of verifying the whole log per request; the job's next run catches up,
    and a stored report still verifies against the log that has grown since."""
    world = embedded_world(tmp_path)
    try:
        world.add_node("alpha", "site-a")
        world.registered()
        live = world.client.get("/portal/report.json").json()  # nothing stored: computed now
        ran_at = T0 + timedelta(minutes=5)
        world.set_time(ran_at)
        covered = housekeeping(world.svc)["report_entries"]
        assert covered == len(world.svc.audit.bundle().entries)
        assert covered == live["report"]["checkpoint"]["size"]
        world.registered()  # more entries after the job ran
        grown = len(world.svc.audit.bundle().entries)
        assert grown > covered
        stored = world.client.get("/portal/report.json").json()
        assert stored["report"]["checkpoint"]["size"] == covered
        assert stored["computed_at"] == ran_at.isoformat()
        page = world.client.get("/portal").text
        assert f"<strong>{covered}</strong> log entries" in page
        assert "the city recomputes it every 15 minutes" in page
        bundle = world.svc.audit.bundle()
        checkpoint, _ = open_checkpoint(stored["checkpoint"], world.svc.audit.signer.verifier)
        records = [PublicRecord.from_leaf(e.data)
                   for e in sorted(bundle.entries, key=lambda e: e.index)[:checkpoint.size]]
        assert transparency_report(records, checkpoint.root) == stored["report"]
        assert housekeeping(world.svc)["report_entries"] == grown
        assert world.client.get("/portal/report.json").json()["report"]["checkpoint"][
            "size"] == grown
    finally:
        world.close()
