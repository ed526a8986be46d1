"""The record of processing activities (GDPR Art. 30; for police processing, Law Enforcement
Directive Art. 24): who is responsible (Art. 30(1)(a): the controller, its representative and
the DPO, with contact details, from the coordinator's configuration), then one row per
processing activity the platform performs with its purpose (b), data subjects and personal
data (c), recipients (d), transfers to third countries (e), time limits (f) and security
measures (g), filled from what the running system is configured to do (the enrolled sites'
stated retention, the configured webhooks, broker and witnesses, whom results were disclosed
to), and how often the audit log shows it was done in the period. Exported as CSV and PDF."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fpdf import FPDF

from audit.records import Action
from coordinator.config import Party

COLUMNS = ("activity", "purpose", "legal_basis", "data_subjects", "personal_data",
           "recipients", "transfers", "time_limit", "safeguards", "logged_actions",
           "times_in_period")
NO_TRANSFER = "none: processed on the city's own coordinator and sites"


@dataclass(frozen=True)
class Responsible:
    """Art. 30(1)(a): the controller, its representative and the DPO (None: not configured)."""

    controller: Party | None
    representative: Party | None
    dpo: Party | None

    def lines(self) -> list[tuple[str, str]]:
        """(role, name and contact) for the record's heading; an unset one says how to set it."""
        out = []
        for label, party, option in (("Controller", self.controller, "controller"),
                                     ("Representative", self.representative, "representative"),
                                     ("Data protection officer", self.dpo,
                                      "data_protection_officer")):
            if party is not None:
                out.append((label, f"{party.name}, {party.contact()}"))
            elif option != "representative":  # a representative only where there is one
                out.append((label, f"NOT CONFIGURED: set `{option}` in the coordinator's "
                                   "configuration (name and contact details)"))
        return out

    @property
    def complete(self) -> bool:
        return self.controller is not None and self.dpo is not None


@dataclass(frozen=True)
class Facts:
    """What the running system says, for the record's (1)(d)-(g)."""

    # site -> data class (raw_video, trajectories, ...) -> the days its cameras' notices state
    retention: Mapping[str, Mapping[str, Sequence[int]]] = field(default_factory=dict)
    alert_retention_days: int = 90
    webhook_hosts: Sequence[str] = ()
    mqtt_host: str | None = None
    witness_urls: Sequence[str] = ()
    api_tls: bool = False
    disclosed_to: Mapping[str, int] = field(default_factory=dict)  # recipient role -> count

    def _kept(self, kind: str) -> str:
        per_site = [f"{site}: {_days(days[kind])}" for site, days in sorted(self.retention.items())
                    if days.get(kind)]
        return "; ".join(per_site) if per_site else "no enrolled site states it yet"

    def words(self) -> dict[str, str]:
        """The values the activities' texts name in braces."""
        hosts = sorted(set(self.webhook_hosts))
        events_to = ["city control room operators"]
        if hosts:
            events_to.append(f"webhooks at {', '.join(hosts)} (anonymous alerts)")
        if self.mqtt_host:
            events_to.append(f"the MQTT broker {self.mqtt_host} (anonymous alerts)")
        disclosed = ", ".join(f"{role} ({n})" for role, n in sorted(self.disclosed_to.items()))
        witnesses = (f"signed checkpoints only (no personal data) to witnesses at "
                     f"{', '.join(sorted({urlsplit(u).netloc for u in self.witness_urls}))}"
                     if self.witness_urls else NO_TRANSFER)
        return {"raw_video": self._kept("raw_video"), "trajectories": self._kept("trajectories"),
                "alerts": f"alerts deleted after {self.alert_retention_days} days at the "
                          "coordinator",
                "event_recipients": "; ".join(events_to),
                "disclosed": (f"disclosed in the log to: {disclosed}" if disclosed
                              else "no disclosure logged"),
                "witnesses": witnesses,
                "transport": ("TLS between hosts (API over HTTPS)" if self.api_tls
                              else "API without TLS: set tls_certificate and tls_private_key")}


def _days(days: Sequence[int]) -> str:
    low, high = min(days), max(days)
    return f"{low} days" if low == high else f"{low} to {high} days"


@dataclass(frozen=True)
class Activity:
    activity: str
    purpose: str
    legal_basis: str
    data_subjects: str
    personal_data: str
    recipients: str  # may name {event_recipients}, {disclosed} (Facts.words)
    time_limit: str  # may name {raw_video}, {trajectories}, {alerts}
    safeguards: str  # may name {transport}
    actions: tuple[Action, ...]
    transfers: str = NO_TRANSFER  # may name {witnesses}


ACTIVITIES: tuple[Activity, ...] = (
    Activity("Recording at camera sites", "evidence for investigations under warrant",
             "national video surveillance law; LED Art. 8", "people and vehicles in view",
             "raw video (faces, plates)", "none unless exported under a warrant",
             "raw video as each site states it: {raw_video}; then the day key is destroyed",
             "AES-256-GCM per segment at the node; keys wrapped per day; legal holds logged; "
             "{transport}",
             (Action.COLLECTION, Action.RETENTION_PURGE, Action.LEGAL_HOLD, Action.KEY_RELEASE)),
    Activity("Redacted live view and events", "public safety monitoring (control room)",
             "public task (GDPR Art. 6(1)(e))", "people and vehicles in view",
             "redacted video; anonymous events with site-local rotating tokens",
             "{event_recipients}", "events as kept by the node's event store; {alerts}",
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
             "named recipients in the log ({disclosed})", "with the case file",
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
             "tracks at each site as it states it: {trajectories}",
             "record-level DP at each node; secure aggregation",
             (Action.TRAINING_RUN,)),
    Activity("Audit log", "accountability (LED Art. 25, AI Act Art. 12)", "legal obligation",
             "staff using the platform", "pseudonyms, roles, agencies; details as "
             "commitments", "public (records), DPO (details)", "details erased at retention end",
             "append-only Merkle log with signed, witnessed checkpoints; {transport}",
             (Action.ACCESS_DENIED, Action.CONFIG_CHANGE, Action.NODE_ENROLLED,
              Action.ERASURE), transfers="{witnesses}"),
)


def rows(actions_by_month: dict[str, dict[str, int]], facts: Facts,
         months: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The record as ``facts`` fill it in, with each activity's count from the log over
    ``months`` (default: all)."""
    chosen = [m for m in actions_by_month if months is None or m in months]
    words = facts.words()
    out = []
    for item in ACTIVITIES:
        times = sum(actions_by_month[m].get(a.value, 0) for m in chosen for a in item.actions)
        out.append({"activity": item.activity, "purpose": item.purpose,
                    "legal_basis": item.legal_basis, "data_subjects": item.data_subjects,
                    "personal_data": item.personal_data,
                    "recipients": item.recipients.format_map(words),
                    "transfers": item.transfers.format_map(words),
                    "time_limit": item.time_limit.format_map(words),
                    "safeguards": item.safeguards.format_map(words),
                    "logged_actions": " ".join(a.value for a in item.actions),
                    "times_in_period": times})
    return out


def to_csv(record: list[dict[str, Any]], responsible: Responsible) -> str:
    """One row per activity, each naming the responsible (Art. 30(1)(a)) in its last columns,
    so that the file stays one table a spreadsheet opens."""
    named = dict(responsible.lines())
    parties = {"controller": named.get("Controller", ""),
               "representative": named.get("Representative", ""),
               "data_protection_officer": named.get("Data protection officer", "")}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=(*COLUMNS, *parties), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({**row, **parties} for row in record)
    return buffer.getvalue()


def to_pdf(record: list[dict[str, Any]], responsible: Responsible, period: str,
           checkpoint: str) -> bytes:
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_title("Record of processing activities (GDPR Art. 30)")
    if responsible.controller is not None:
        pdf.set_author(_latin(responsible.controller.name))
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, "Record of processing activities (GDPR Art. 30, LED Art. 24)",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for line in (*(f"{label}: {text}" for label, text in responsible.lines()),
                 f"Period: {period}", f"Counts from the audit log up to checkpoint {checkpoint}"):
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
