"""The Art. 30 record names the controller and the DPO with their contact details (from the
coordinator's configuration) and fills recipients, transfers, time limits and safeguards from
what the system is configured to do (issue 24, DPO)."""

from __future__ import annotations

import csv
import io
import re
import zlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from coordinator.config import Party
from tests.support.world import embedded_world

CITY = {"name": "City of Lindau, Office of Public Order", "address": "Bahnhofplatz 1, Lindau",
        "email": "ordnungsamt@lindau.example"}
DPO = {"name": "Dr. Lena Brandt", "email": "dpo@lindau.example", "phone": "+49 8382 0000"}


def pdf_text(body: bytes) -> bytes:
    return b"".join(zlib.decompress(m) for m in re.findall(rb"stream\r?\n(.*?)endstream", body,
                                                           re.DOTALL) if m[:1] == b"x")


def test_the_record_names_who_is_responsible_and_what_the_system_does(tmp_path: Path) -> None:
    world = embedded_world(tmp_path, options={"controller": CITY,
                                              "data_protection_officer": DPO})
    try:
        world.add_node("alpha", "site-a", extra="retention_days = 14\n"
                       "trajectory_retention_days = 3\n")
        world.add_node("beta", "site-b")
        dpo = world.as_("dpo")
        page = world.client.get("/console/record-of-processing", headers=dpo)
        assert page.status_code == 200
        assert CITY["name"] in page.text and DPO["email"] in page.text
        assert "NOT CONFIGURED" not in page.text
        exported = world.client.get("/console/record-of-processing.csv", headers=dpo)
        rows = {r["activity"]: r for r in csv.DictReader(io.StringIO(exported.text))}
        recording = rows["Recording at camera sites"]
        assert recording["controller"] == f"{CITY['name']}, {CITY['address']}; {CITY['email']}"
        assert recording["data_protection_officer"].startswith(DPO["name"])
        # each site's stated retention, not a default written into the record
        assert "site-a: 14 days" in recording["time_limit"]
        assert "site-b: 30 days" in recording["time_limit"]
        assert "site-a: 3 days" in rows["Federated model training"]["time_limit"]
        assert "alerts deleted after 90 days" in rows["Redacted live view and events"][
            "time_limit"]
        witness_host = world.settings.witnesses[0].url.split("/")[2]
        assert witness_host in rows["Audit log"]["transfers"]
        assert rows["Plate watchlist search"]["transfers"].startswith("none")
        assert "API without TLS" in recording["safeguards"]
        pdf = world.client.get("/console/record-of-processing.pdf", headers=dpo).content
        assert b"Dr. Lena Brandt" in pdf_text(pdf) and b"Office of Public Order" in pdf_text(pdf)
    finally:
        world.close()


def test_an_unconfigured_controller_is_flagged_not_replaced(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        page = world.client.get("/console/record-of-processing", headers=world.as_("dpo")).text
        assert "NOT CONFIGURED: set `controller`" in page
        assert "NOT CONFIGURED: set `data_protection_officer`" in page
        assert world.settings.origin not in page  # the log's name is no controller
    finally:
        world.close()


def test_a_party_needs_contact_details() -> None:
    with pytest.raises(ValidationError, match="give contact details"):
        Party(name="City of Lindau")
    assert Party(name="DPO", email="dpo@x.example").contact() == "dpo@x.example"
