"""The record of processing activities (GDPR Art. 30; for police processing, Law Enforcement
Directive Art. 24): one row per processing activity the platform performs, with its purpose,
legal basis, data subjects, data, recipients, time limits and safeguards, and how often the
audit log shows it was done in the period. Exported as CSV and as PDF."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fpdf import FPDF

from audit.records import Action

COLUMNS = ("activity", "purpose", "legal_basis", "data_subjects", "personal_data",
           "recipients", "time_limit", "safeguards", "logged_actions", "times_in_period")


@dataclass(frozen=True)
class Activity:
    activity: str
    purpose: str
    legal_basis: str
    data_subjects: str
    personal_data: str
    recipients: str
    time_limit: str
    safeguards: str
    actions: tuple[Action, ...]


ACTIVITIES: tuple[Activity, ...] = (
    Activity("Recording at camera sites", "evidence for investigations under warrant",
             "national video surveillance law; LED Art. 8", "people and vehicles in view",
             "raw video (faces, plates)", "none unless exported under a warrant",
             "node retention_days (default 30), then the day key is destroyed",
             "AES-256-GCM per segment at the node; keys wrapped per day; legal holds logged",
             (Action.COLLECTION, Action.RETENTION_PURGE, Action.LEGAL_HOLD, Action.KEY_RELEASE)),
    Activity("Redacted live view and events", "public safety monitoring (control room)",
             "public task (GDPR Art. 6(1)(e))", "people and vehicles in view",
             "redacted video; anonymous events with site-local rotating tokens",
             "city control room operators", "events as kept by the node's event store",
             "faces and plates hidden at source; no identifiers in events; each incident "
             "acknowledged, assigned or closed is an audit entry",
             (Action.CONSULTATION, Action.ALERT_HANDLED)),
    Activity("Plate watchlist search", "finding vehicles named in a warrant",
             "judicial warrant (LED Art. 8)", "vehicle keepers", "keyed plate hashes, "
             "sighting time and camera, a redacted thumbnail of hits",
             "the requesting police analyst", "per the warrant; hits retained with the case",
             "warrant checked by each node; only hits returned; sealed to the coordinator",
             (Action.QUERY_DISPATCHED, Action.QUERY_ANSWERED, Action.WARRANT_USED)),
    Activity("Face watchlist search", "finding a person named in a warrant or consent",
             "judicial warrant with DPO countersignature, or documented consent",
             "people in the warrant's recordings", "face descriptors computed in scope only",
             "the requesting police analyst after two-person confirmation",
             "no standing index; descriptors discarded after the search",
             "runs at the node on the scope's encrypted recordings; AI Act Art. 14(5)",
             (Action.MATCH_CONFIRMED,)),
    Activity("Disclosure of results", "evidence for a case", "the warrant or consent",
             "people and vehicles matched", "hits opened by the requester",
             "named recipients in the log", "with the case file",
             "sealed results; each disclosure an audit entry",
             (Action.DISCLOSURE, Action.EXPORT)),
    Activity("Warrants and consents", "authorising searches", "LED Art. 8; GDPR Art. 6(1)(a)",
             "suspects, consenting people", "case number, justification, target "
             "commitments; a draft's plain targets and reference images until signed",
             "judges, the DPO", "case retention",
             "Ed25519 signatures pinned at nodes; targets as salted commitments",
             (Action.WARRANT_DRAFTED, Action.WARRANT_SIGNED, Action.WARRANT_REGISTERED,
              Action.WARRANT_DECLINED, Action.WARRANT_REFUSED, Action.WARRANT_REVOKED,
              Action.WARRANT_EXPIRED, Action.CONSENT_REGISTERED)),
    Activity("Planners' aggregate statistics", "city planning", "public task",
             "people counted in zones", "counts with differential privacy noise",
             "city planners", "no individual data leaves the node",
             "noise added at the node; per-node privacy budget",
             (Action.AGGREGATE_RELEASED,)),
    Activity("Federated model training", "better analytics without pooling footage",
             "public task", "people whose anonymous tracks were recorded",
             "model updates (DP-SGD, summed under SecAgg+)", "none (the sum only)",
             "tracks kept trajectory_retention_days (default 7) at the node",
             "record-level DP at each node; secure aggregation",
             (Action.TRAINING_RUN,)),
    Activity("Audit log", "accountability (LED Art. 25, AI Act Art. 12)", "legal obligation",
             "staff using the platform", "pseudonyms, roles, agencies; details as "
             "commitments", "public (records), DPO (details)", "details erased at retention end",
             "append-only Merkle log with signed, witnessed checkpoints",
             (Action.ACCESS_DENIED, Action.CONFIG_CHANGE, Action.NODE_ENROLLED,
              Action.ERASURE)),
)


def rows(actions_by_month: dict[str, dict[str, int]], months: Sequence[str] | None = None
         ) -> list[dict[str, Any]]:
    """The record, with each activity's count from the log over ``months`` (default: all)."""
    chosen = [m for m in actions_by_month if months is None or m in months]
    out = []
    for item in ACTIVITIES:
        times = sum(actions_by_month[m].get(a.value, 0) for m in chosen for a in item.actions)
        out.append({"activity": item.activity, "purpose": item.purpose,
                    "legal_basis": item.legal_basis, "data_subjects": item.data_subjects,
                    "personal_data": item.personal_data, "recipients": item.recipients,
                    "time_limit": item.time_limit, "safeguards": item.safeguards,
                    "logged_actions": " ".join(a.value for a in item.actions),
                    "times_in_period": times})
    return out


def to_csv(record: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(record)
    return buffer.getvalue()


def to_pdf(record: list[dict[str, Any]], controller: str, period: str, checkpoint: str
           ) -> bytes:
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_title("Record of processing activities (GDPR Art. 30)")
    pdf.set_author(controller)
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, "Record of processing activities (GDPR Art. 30, LED Art. 24)",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for line in (f"Controller: {controller}", f"Period: {period}",
                 f"Counts from the audit log up to checkpoint {checkpoint}"):
        pdf.cell(0, 5, _latin(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for item in record:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 6, _latin(f"{item['activity']}  ({item['times_in_period']} logged)"),
                 new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)
        for column in COLUMNS[1:-1]:
            pdf.multi_cell(0, 4, _latin(f"{column.replace('_', ' ')}: {item[column]}"),
                           new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    return bytes(pdf.output())


def _latin(text: str) -> str:
    # the core PDF fonts are Latin-1
    return text.encode("latin-1", "replace").decode("latin-1")
