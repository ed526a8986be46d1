"""The coordinator's pages in headless Chromium: a citizen verifies the transparency report
(and sees it fail, with the reason, when the log was tampered with or the server lies), a DPO
filters the trail, opens a proof and exports the Art. 30 record, a police analyst drafts a
warrant, a judge signs it in the browser or uploads a CLI signature, an alert reaches the
control room without a reload. Every page: no console errors, labelled controls, charts with
text alternatives, usable by keyboard. Screenshots in test-artifacts/web."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from browser import Watched, chromium, log_in, serving
from playwright.sync_api import Browser, expect
from world import PASSWORD, World, embedded_world

from audit.records import Action
from coordinator.alert_intake import accept
from coordinator.db import Warrant as WarrantRow
from coordinator.live_views import accept_snapshot
from nodes.event_sender import EventSender
from nodes.events import EventStore, StoredEvent
from nodes.identity import load_identity
from nodes.live_view import LiveViewSender
from nodes.sources.synthetic import face_crops
from privacy.legal_basis import SignedWarrant, commit_reference


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    world = embedded_world(tmp_path, query_timeout=2.0)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


@pytest.fixture
def site(city: World) -> Iterator[str]:
    with serving(city.svc) as base:
        yield base


def page_of(browser: Browser) -> Watched:
    return Watched(browser.new_context(accept_downloads=True).new_page())


def safecity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from nodes.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_citizen_verifies_the_report_and_sees_tampering_with_its_reason(
        browser: Browser, city: World, site: str) -> None:
    city.registered()  # drafted, signed, registered: public entries with counts
    city.draft(case_number="CASE-2")
    citizen = page_of(browser)
    citizen.page.goto(f"{site}/portal")
    expect(citizen.page.locator("h1")).to_have_text("What the city's cameras did")
    size = city.svc.audit.size()
    expect(citizen.page.locator("#checkpoint")).to_contain_text(f"{size} log entries")
    warrants = citizen.page.locator("table", has_text="Warrant decisions by month")
    expect(warrants).to_contain_text("warrant_drafted")
    cameras = citizen.page.locator("#cameras").inner_text()
    assert "site-a" in cameras and "raw video: 30" in cameras and "gate" in cameras
    citizen.assert_accessible()
    citizen.screenshot("portal")

    citizen.page.click("text=Verify")  # the nav link
    citizen.page.keyboard.press("Tab")
    citizen.page.focus("#verify-button")
    citizen.page.keyboard.press("Enter")  # by keyboard
    status = citizen.page.locator("#verify-status")
    expect(status).to_have_attribute("data-result", "verified", timeout=20_000)
    expect(status).to_contain_text(f"signed log of {size} entries")
    expect(citizen.page.locator("#verify-steps li")).to_have_count(4)
    citizen.screenshot("verify-ok")

    # a server that publishes a report the log does not support is caught
    def lie(route) -> None:  # type: ignore[no-untyped-def]
        body = route.fetch().json()
        body["report"]["warrants_by_month"][next(iter(body["report"]["warrants_by_month"]))][
            "warrant_registered"] = 0
        route.fulfill(json=body)

    citizen.page.route("**/portal/report.json", lie)
    citizen.page.click("#verify-button")
    expect(status).to_have_attribute("data-result", "failed", timeout=20_000)
    expect(status).to_contain_text("the published numbers differ from the log")
    expect(status).to_contain_text("warrant_registered: the report says 0, the log says 1")
    citizen.page.unroute("**/portal/report.json")

    # someone with database access rewrites an entry: the signed root no longer matches
    db = sqlite3.connect(city.root / "coordinator.sqlite")
    (data,) = db.execute("SELECT data FROM audit_entries WHERE idx = 1").fetchone()
    forged = json.loads(data)
    forged["outcome"] = "refused"
    db.execute("UPDATE audit_entries SET data = ?, leaf_hash = leaf_hash WHERE idx = 1",
               (json.dumps(forged, separators=(",", ":"), sort_keys=True).encode(),))
    db.commit()
    db.close()
    citizen.page.goto(f"{site}/portal")
    expect(citizen.page.locator(".problem")).to_contain_text("entry 1")  # the server says so
    citizen.page.goto(f"{site}/portal/verify")
    citizen.page.click("#verify-button")
    expect(status).to_have_attribute("data-result", "failed", timeout=20_000)
    expect(status).to_contain_text("entry 1: its data does not match its stored leaf hash")
    citizen.screenshot("verify-tampered")
    citizen.assert_clean()

    # the same check on the command line says the same
    vkey = city.svc.audit.signer.verifier.vkey()
    done = safecity("audit", "verify", "--url", site, "--log-key", vkey)
    assert done.returncode == 1 and "entry 1" in done.stdout, done.stdout + done.stderr


def test_a_dpo_filters_the_trail_opens_a_proof_and_exports_the_record(
        browser: Browser, city: World, site: str, tmp_path: Path) -> None:
    city.registered(case_number="CASE-77")
    city.registered(case_number="CASE-78")
    dpo = page_of(browser)
    log_in(dpo, site, "dpo", PASSWORD)
    expect(dpo.page).to_have_url(f"{site}/console")
    dpo.page.select_option("#f-action", "warrant_registered")
    dpo.page.fill("#f-case", "CASE-78")
    dpo.page.click("text=Filter")
    rows = dpo.page.locator("#trail tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("warrant_registered")
    dpo.assert_accessible()
    dpo.screenshot("console-trail")
    rows.first.locator("a").focus()
    dpo.page.keyboard.press("Enter")
    integrity = dpo.page.locator("#integrity")
    expect(integrity).to_have_attribute("data-result", "verified")
    expect(dpo.page.locator("dl")).to_contain_text("CASE-78")  # the DPO-only details, opened
    assert dpo.page.locator("#proof li").count() >= 1
    dpo.screenshot("console-entry")

    dpo.page.goto(f"{site}/console/record-of-processing")
    with dpo.page.expect_download() as csv_download:
        dpo.page.click("#export-csv")
    csv_path = tmp_path / "record.csv"
    csv_download.value.save_as(csv_path)
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("activity,purpose,legal_basis")
    warrants = next(line for line in lines if line.startswith("Warrants and consents"))
    assert warrants.endswith(",6")  # 2 drafted, 2 signed, 2 registered
    with dpo.page.expect_download() as pdf_download:
        dpo.page.click("#export-pdf")
    pdf_path = tmp_path / "record.pdf"
    pdf_download.value.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF-")
    assert b"Record of processing activities" in pdf_text(pdf_path)
    assert rb"Warrants and consents  \(6 logged\)" in pdf_text(pdf_path)
    dpo.page.goto(f"{site}/console/approvals")
    dpo.page.goto(f"{site}/console/budgets")
    dpo.assert_accessible()
    dpo.assert_clean()


def pdf_text(path: Path) -> bytes:
    """The PDF's content streams, inflated (where its text operators are)."""
    body = path.read_bytes()
    return b"".join(zlib.decompress(m) for m in re.findall(rb"stream\r?\n(.*?)endstream", body,
                                                           re.DOTALL) if m[:1] == b"x")


def test_police_drafts_a_warrant_and_a_judge_signs_it(browser: Browser, city: World, site: str,
                                                    tmp_path: Path) -> None:
    police = page_of(browser)
    log_in(police, site, "police", PASSWORD)
    expect(police.page).to_have_url(f"{site}/casework")
    police.page.click("#draft-link")
    now = datetime.now(UTC)
    local = lambda t: t.strftime("%Y-%m-%dT%H:%M")
    police.page.fill("#case", "CASE-2026-0099")
    police.page.fill("#justification", "vehicle used in a robbery on 1 December")
    police.page.fill("#window-start", local(now - timedelta(days=3)))
    police.page.fill("#window-end", local(now))
    police.page.fill("#expires", local(now + timedelta(days=1)))
    police.page.fill("#targets", "AB12 CDE\nXY99 ZZZ")
    police.assert_accessible()
    police.screenshot("police-draft")
    police.page.click("text=Submit the draft for signature")
    expect(police.page.locator("#warrant-status")).to_contain_text("draft")
    warrant_id = police.page.locator("#warrant-data").get_attribute("data-warrant-id")
    assert police.page.locator("#sign-form").count() == 0  # police cannot sign
    # ... nor through the API with the page's session
    forged = police.page.evaluate("""async (id) => {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const r = await fetch(`/warrants/${id}/signatures`, {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
        body: JSON.stringify({role: 'judge', signature: btoa('x'.repeat(64))})});
      return r.status; }""", warrant_id)
    assert forged == 403
    assert police.errors == [  # the browser reports the refusal we provoked, and nothing else
        "console: Failed to load resource: the server responded with a status of 403 (Forbidden)"]
    police.errors.clear()

    judge = page_of(browser)
    log_in(judge, site, "judge", PASSWORD)
    judge.page.goto(f"{site}/casework/warrants/{warrant_id}")
    key_file = tmp_path / "judge.key"
    city.judge_key.save(key_file)
    judge.page.set_input_files("#key-file", str(key_file))
    targets = judge.page.locator("#scope-targets")
    expect(targets).to_contain_text("AB12CDE")  # the plates in plain, as the draft holds them
    expect(targets).to_contain_text("XY99ZZZ")
    judge.screenshot("judge-sign")
    sign = judge.page.locator("#sign-form button")
    expect(sign).to_be_disabled()  # the confirm step comes first
    judge.page.check("#confirm-scope")
    sign.click()
    expect(judge.page.locator("#warrant-status")).to_contain_text("registered")
    expect(targets).to_contain_text("no longer kept")  # registered: the plain plates forgotten
    assert city.client.get(f"/warrants/{warrant_id}", headers=city.as_("judge")).json()[
        "status"] == "registered"

    # a warrant signed offline with `safecity warrant sign`, uploaded by the judge
    offline = city.draft(case_number="CASE-2026-0100")
    document = tmp_path / "offline.json"
    document.write_text(json.dumps(offline["document"]))
    signed = safecity("warrant", "sign", str(document), "--key", str(key_file), "--as", "judge")
    assert signed.returncode == 0, signed.stderr
    judge.page.goto(f"{site}/casework/warrants/{offline['warrant_id']}")
    judge.page.set_input_files("#signed-file", str(document))
    judge.page.check("#confirm-scope")
    judge.page.click("text=Upload the signature")
    expect(judge.page.locator("#warrant-status")).to_contain_text("registered")
    judge.assert_clean()

    # the analyst searches under the registered warrant and sees each site's answer
    police.page.goto(f"{site}/casework/warrants/{warrant_id}")
    police.page.fill("#query-targets", "AB12 CDE")
    police.page.click("text=Send the search to the sites")
    status = police.page.locator("#query-status")
    expect(status).to_have_attribute("data-result", "complete", timeout=30_000)
    expect(police.page.locator("#query-nodes tbody")).to_contain_text("unreachable")
    police.screenshot("police-results")
    police.assert_clean()


def face_photos(directory: Path, targets: list[str]) -> dict[str, bytes]:
    """A PNG of a (synthetic) face per target, each file named after its target id."""
    photos = {}
    for number, target in enumerate(targets):
        crop = cv2.resize(face_crops()[number], (120, 120), interpolation=cv2.INTER_CUBIC)
        ok, data = cv2.imencode(".png", crop)
        assert ok
        (directory / f"{target}.png").write_bytes(data.tobytes())
        photos[target] = data.tobytes()
    return photos


def warrant_decisions(citizen: Watched, site: str) -> dict[str, int]:
    """The portal's warrant decisions, all months, as a citizen reads them."""
    citizen.page.goto(f"{site}/portal")
    report = citizen.page.evaluate("async () => (await fetch('/portal/report.json')).json()")
    totals: dict[str, int] = {}
    for counts in report["report"]["warrants_by_month"].values():
        for key, n in counts.items():
            totals[key] = totals.get(key, 0) + n
    return totals


def test_a_judge_reads_the_scope_in_words_sees_the_images_and_declines_with_a_reason(
        browser: Browser, city: World, site: str, tmp_path: Path) -> None:
    """Issue 20, finding 4: the signing page states the scope in words (sites, cameras, window,
    purpose, the targets in plain and the reference images, each with the SHA-256 the warrant
    commits to), asks the signer to confirm it, and lets them decline with a reason: an audit
    entry, counted in the portal as refused by a judge, where an analyst's unknown warrant id
    or a used-up warrant are not."""
    police = page_of(browser)
    log_in(police, site, "police", PASSWORD)
    police.page.goto(f"{site}/casework/new")
    now = datetime.now(UTC)
    local = lambda t: t.strftime("%Y-%m-%dT%H:%M")
    police.page.select_option("#kind", "face_watchlist")
    police.page.fill("#purpose", "missing-person")
    police.page.fill("#case", "MP-2026-0007")
    police.page.fill("#justification", "a missing child last seen at the station gate")
    police.page.uncheck("input[name=cameras][value=lobby]")
    police.page.fill("#window-start", local(now - timedelta(hours=6)))
    police.page.fill("#window-end", local(now))
    police.page.fill("#expires", local(now + timedelta(days=1)))
    police.page.fill("#targets", "person-1\nperson-2")
    photos = face_photos(tmp_path, ["person-1", "person-2"])
    police.page.set_input_files("#references", [str(tmp_path / f"{t}.png") for t in photos])
    police.page.click("text=Submit the draft for signature")
    expect(police.page.locator("#warrant-status")).to_contain_text("draft")
    warrant_id = police.page.locator("#warrant-data").get_attribute("data-warrant-id")
    police.assert_clean()

    judge = page_of(browser)
    log_in(judge, site, "judge", PASSWORD)
    judge.page.goto(f"{site}/casework/warrants/{warrant_id}")
    summary = judge.page.locator("#scope-summary").inner_text()
    assert summary.startswith("A face watchlist search") and "missing-person" in summary
    assert "(faces compared with the reference images) for 2 people," in summary
    assert "1 camera (gate) at site-a" in summary and "at most 1 search," in summary
    expect(judge.page.locator("#scope-recordings")).to_contain_text("(6 hours)")
    expect(judge.page.locator("#scope-targets")).to_contain_text("person-2")
    images = judge.page.locator("#reference-images img")
    expect(images).to_have_count(2)
    assert judge.page.evaluate("""() => [...document.querySelectorAll('#reference-images img')]
        .every((i) => i.complete && i.naturalWidth === 120)""")
    # each picture shown is one the warrant commits to, by its SHA-256
    shown = judge.page.locator("#reference-images").inner_text()
    warrant = SignedWarrant.model_validate(city.client.get(
        f"/warrants/{warrant_id}", headers=city.as_("judge")).json()["document"]).warrant
    salt = base64.b64decode(warrant.target_salt)
    for target, data in photos.items():
        digest = hashlib.sha256(data).hexdigest()
        assert digest in shown and commit_reference(salt, target, digest) in warrant.references
    expect(judge.page.locator("#sign-form button")).to_be_disabled()
    expect(judge.page.locator("#upload-form button")).to_be_disabled()
    judge.assert_accessible()
    picture = tmp_path / "judge-face-warrant.png"
    judge.page.screenshot(path=str(picture), full_page=True)
    judge.screenshot("judge-face-warrant")

    reason = "The second photo shows two faces; ask for a clear portrait first."
    judge.page.fill("#decline-reason", reason)
    judge.page.click("#decline-form button")
    expect(judge.page.locator("#warrant-status")).to_contain_text("declined")
    assert judge.page.locator("#sign-form").count() == 0 and judge.page.locator("img").count() == 0
    judge.assert_clean()
    entry = next(e for e in reversed(city.svc.audit.entries(0, 10_000))
                 if e.record.action is Action.WARRANT_DECLINED)
    assert (entry.record.warrant_id, entry.record.outcome, entry.record.actor.role) == (
        warrant_id, "declined_by_judge", "judge")
    assert json.loads(city.svc.audit.details(entry.index)["reason"]) == reason
    public = json.dumps([e.record.model_dump(mode="json")
                         for e in city.svc.audit.entries(0, 10_000)])
    assert "person-1" not in public and reason not in public  # plain targets, reason: private
    assert city.sign(city.client.get(f"/warrants/{warrant_id}", headers=city.as_("judge"))
                     .json()).status_code == 409  # a declined draft is never signed
    with city.svc.session() as session:
        assert session.get(WarrantRow, warrant_id).for_signers is None  # the photos forgotten

    citizen = page_of(browser)
    assert warrant_decisions(citizen, site).get("warrant_declined") == 1
    expect(citizen.page.locator("table", has_text="Warrant decisions by month")).to_contain_text(
        "refused by a judge (warrant_declined)")
    # an analyst's typo and a used-up warrant are not a judge's refusal
    used = city.registered(max_uses=1)
    for warrant_id_sent, status in (("w-no-such-warrant", 404), (used["warrant_id"], 202),
                                    (used["warrant_id"], 403)):
        response = city.client.post("/queries", headers=city.as_("police"), json={
            "warrant_id": warrant_id_sent, "targets": ["AB12CDE"]})
        assert response.status_code == status, response.text
    assert response.json()["code"] == "used_up"
    decisions = warrant_decisions(citizen, site)
    assert decisions["warrant_declined"] == 1 and decisions["warrant_refused"] == 1
    citizen.assert_clean()


def test_an_alert_appears_in_the_control_room_without_a_reload(
        browser: Browser, city: World, site: str, tmp_path: Path) -> None:
    node = city.nodes["alpha"]
    key = load_identity(node.settings.keys_dir).signing
    live = LiveViewSender(lambda body: accept_snapshot(city.svc, body), node.node_id, "site-a",
                          key)
    live.offer("gate", np.full((360, 640, 3), 90, np.uint8))  # a redacted frame, as the node sends
    live.send_pending()
    operator = page_of(browser)
    log_in(operator, site, "operator", PASSWORD)
    expect(operator.page).to_have_url(f"{site}/control-room")
    picture = operator.page.locator('img[data-live]')
    expect(picture).to_have_count(1)
    operator.page.wait_for_function(
        "() => document.querySelector('img[data-live]').naturalWidth === 640")
    expect(operator.page.locator("#feed-status")).to_have_attribute("data-live", "yes")
    operator.assert_accessible()
    store = EventStore(tmp_path / "events.sqlite")
    store.add_many([StoredEvent(type="restricted_area", rule="platform-edge", camera="gate",
                                zone="platform", line=None, direction=None,
                                time=datetime.now(UTC), count=1,
                                tokens=("0123456789abcdef",))])
    EventSender(store, lambda body: accept(city.svc, body), node.node_id, "site-a",
                load_identity(node.settings.keys_dir).signing).send_pending()
    row = operator.page.locator("#alerts tbody tr").first
    expect(row).to_contain_text("restricted_area", timeout=10_000)
    expect(operator.page.locator('#cameras tr[data-camera="gate@site-a"] .open-count')
           ).to_have_text("1")
    operator.screenshot("control-room")
    row.locator('button[data-action="acknowledge"]').focus()
    operator.page.keyboard.press("Enter")
    expect(row.locator(".state")).to_have_text("acknowledged")
    operator.assert_clean()
