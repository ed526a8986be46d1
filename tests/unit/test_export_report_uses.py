"""Export reports are counted against the warrant's uses (red team 3,
redteam/export_reports_unbounded.py): a node reported any number of exports under a one-use
warrant, each a public ``evidence_exported`` entry with a recipient text it chose. Now each node
reports at most ``max_uses`` exports under a warrant (an export is one use in the node's own
ledger); a report past them is refused in the node's name, a resent report is still logged once,
two workers racing for the last use log one export (SQLite and PostgreSQL), and the recipient is
a sealed detail, never public."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from contract.exports import ExportReport, SignedExportReport
from contract.warrants import SignedWarrant, Window, digest
from coordinator import export_reports
from coordinator.db import ExportUses
from coordinator.errors import ExportReportRejected
from coordinator.export_reports import accept_export
from nodes.identity import load_identity
from tests.support.world import T0, World, embedded_world

pytestmark = pytest.mark.unit

CHOSEN = "John.Smith@12-Main-Street:flat-3"
WINDOW = Window(start=T0 - timedelta(hours=2), end=T0 - timedelta(hours=1))


@pytest.fixture(params=["sqlite", "postgresql"])
def city(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        world = embedded_world(tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
        world = World(tmp_path, url, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                      f"db+sqlite:///{tmp_path / 'results.sqlite'}")
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def warrant(world: World, max_uses: int) -> tuple[str, str]:
    body = world.registered(kind="evidence_export", cameras=["gate"], max_uses=max_uses,
                            targets=["case-0042-footage"],
                            window={"start": WINDOW.start.isoformat(),
                                    "end": WINDOW.end.isoformat()})
    return body["warrant_id"], digest(SignedWarrant.model_validate(body["document"]))


def report(world: World, warrant_id: str, text: str) -> dict[str, Any]:
    node = world.nodes["alpha"]
    body = ExportReport(export_id=str(uuid.uuid4()), node_id=node.node_id, site="site-a",
                        warrant_id=warrant_id, warrant_sha256=text, cameras=("gate",),
                        window=WINDOW, segments=1, recipient=CHOSEN, export_sha256="0" * 64,
                        exported_at=T0)
    key = load_identity(node.settings.keys_dir).signing
    return SignedExportReport(report=body, signature=body.sign(key)).model_dump(mode="json")


def exported(world: World) -> list[Any]:
    size = world.svc.audit.size()
    return [e for e in world.svc.audit.entries(0, size)
            if e.record.outcome == "evidence_exported"]


def test_reports_past_the_warrants_uses_are_refused_in_the_nodes_name(city: World) -> None:
    warrant_id, text = warrant(city, max_uses=2)
    first, second, third = (report(city, warrant_id, text) for _ in range(3))
    one, _ = accept_export(city.svc, first)
    accept_export(city.svc, second)
    with pytest.raises(ExportReportRejected, match="all 2 uses") as refusal:
        accept_export(city.svc, third)
    assert refusal.value.node == city.nodes["alpha"].node_id
    assert accept_export(city.svc, first) == (one, True)  # a resend: logged once, not counted
    entries = exported(city)
    assert len(entries) == 2
    with city.svc.session() as session:
        assert session.get_one(ExportUses, (warrant_id, city.nodes["alpha"].node_id)).uses == 2
    # the recipient is the node's text: sealed for the DPO, not in the public leaf
    for entry in entries:
        assert entry.record.recipients == () and CHOSEN not in entry.record.leaf_data().decode()
        assert json.loads(city.svc.audit.details(entry.index)["recipient"]) == CHOSEN


def test_two_workers_racing_for_the_last_use_log_one_export(
        city: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each report waits, once it has counted its use, for the other to count too (fault
    injection): without the counter's lock both count the last use and both are logged; with
    it the second waits for the first's transaction, the barrier gives up, and it is refused."""
    warrant_id, text = warrant(city, max_uses=2)
    accept_export(city.svc, report(city, warrant_id, text))  # the counter row exists: its lock
    reports = [report(city, warrant_id, text) for _ in range(2)]  # races, not the insert's
    counted = threading.Barrier(len(reports), timeout=3)
    use = export_reports._use

    def held(*args: Any) -> None:
        use(*args)
        with contextlib.suppress(threading.BrokenBarrierError):  # the other waits on the lock
            counted.wait()

    monkeypatch.setattr(export_reports, "_use", held)
    outcomes: list[Any] = []

    def send(message: dict[str, Any]) -> None:
        try:
            outcomes.append(accept_export(city.svc, message))
        except ExportReportRejected as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=send, args=(m,)) for m in reports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for o in outcomes if isinstance(o, tuple)) == 1, outcomes
    assert sum(1 for o in outcomes if isinstance(o, ExportReportRejected)) == 1, outcomes
    assert len(exported(city)) == 2
