"""A rogue node reports exports that never happened: one public ``export`` entry each, as many
as it likes under a one-use warrant, with a recipient string of its choosing.

The coordinator logs an export report once per export id after checking the sender, the
warrant's registration and text, and the scope (``coordinator.export_reports``). The export id
is the node's to choose, and nothing counts reports against the warrant's ``max_uses``: the
node's own ledger enforces the uses, and a rogue node's ledger is the rogue's. So a node with
one registered evidence-export warrant for its site (``max_uses = 1``) sends any number of
signed reports with fresh ids: each is a permanent public ``evidence_exported`` entry (scope,
recipient, segment count public), the city's public record then shows the warrant used that
many times, and the recipient field (128 characters of ``[A-Za-z0-9_.:/@-]``) carries text
the node chose, such as a person's name and address.

A real ``safecity coordinator worker`` process on the embedded broker; the rogue node signs
with its own enrolled key.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/export_reports_unbounded.py
Exit 1 = more entries than the warrant's uses; 0 = bounded by them.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from contract.exports import ExportReport, SignedExportReport
from contract.tasks import EVENTS_QUEUE, EXPORT_REPORT_TASK
from contract.warrants import SignedWarrant, Window, digest
from coordinator.db import Warrant
from nodes.event_sender import celery_publisher
from nodes.identity import load_identity
from tests.support.world import T0, embedded_world

SENT = 25
CHOSEN = "John.Smith@12-Main-Street:flat-3"


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-export-reports-")))
    try:
        world.add_node("alpha", "site-a")
        node_id = world.nodes["alpha"].node_id
        key = load_identity(world.nodes["alpha"].settings.keys_dir).signing
        window = Window(start=T0 - timedelta(hours=2), end=T0 - timedelta(hours=1))
        warrant = world.registered(kind="evidence_export", cameras=["gate"], max_uses=1,
                                   targets=["case-0042-footage"],
                                   window={"start": window.start.isoformat(),
                                           "end": window.end.isoformat()})
        with world.svc.session() as session:
            row = session.get_one(Warrant, warrant["warrant_id"])
            text = digest(SignedWarrant.model_validate(row.document))
        world.start_coordinator_worker()
        before = world.svc.audit.size()
        send, close = celery_publisher(world.broker, EXPORT_REPORT_TASK, EVENTS_QUEUE)
        try:
            for _ in range(SENT):
                report = ExportReport(
                    export_id=str(uuid.uuid4()), node_id=node_id, site="site-a",
                    warrant_id=warrant["warrant_id"], warrant_sha256=text, cameras=("gate",),
                    window=window, segments=1, recipient=CHOSEN, export_sha256="0" * 64,
                    exported_at=T0)
                send(SignedExportReport(report=report, signature=report.sign(key))
                     .model_dump(mode="json"))
        finally:
            close()
        deadline, logged, chosen = time.monotonic() + 120, 0, 0
        while time.monotonic() < deadline and logged < SENT:
            time.sleep(1)
            size = world.svc.audit.size()
            found = [e for e in world.svc.audit.entries(before, size - before)
                     if e.record.outcome == "evidence_exported"]
            logged = len(found)
            chosen = sum(1 for e in found if CHOSEN in e.record.recipients)
        print(f"{SENT} signed export reports from one rogue node under one warrant of "
              f"max_uses 1 -> {logged} public 'evidence_exported' entries, {chosen} with the "
              f"recipient text {CHOSEN!r}")
    finally:
        world.close()
    return 1 if logged > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
