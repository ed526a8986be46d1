"""What held: probes of the incident feature that found no hole (kept so they can be rerun).

- every role but the site operator, a node's own token, and anonymous callers are refused on
  every incident route and the control room;
- script in a closing note is escaped on the page (and the CSP forbids inline script anyway);
- a cookie session cannot close an incident without the CSRF token;
- the public audit log (``/audit/entries``, anonymous) carries neither the operator's username,
  the assignee, the note, the site nor the camera of handled incidents;
- assigning to a non-operator, a deactivated or unknown user, forged states and bodies with
  extra fields are refused; a closed incident cannot be reopened or re-closed.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/incident_held_checks.py
Exit 1 = one of these broke, 0 = all held.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from redteam.incident_city import city
from tests.support.incident_events import event, send
from tests.support.world import PASSWORD

NOTE = '<script>alert(1)</script><img src=x onerror=alert(2)> seen near "gate"'


def main() -> int:
    broken = []

    def expect(what: str, ok: bool) -> None:
        print(("ok   " if ok else "BROKE"), what)
        if not ok:
            broken.append(what)

    with city() as w:
        (incident,) = send(w, [event(datetime.now(UTC), camera="lobby", zone="vault")]).incidents
        routes = [("get", "/incidents", None), ("get", f"/incidents/{incident}", None),
                  ("post", f"/incidents/{incident}/acknowledge", None),
                  ("post", f"/incidents/{incident}/assign", {"username": "police"}),
                  ("post", f"/incidents/{incident}/close", {"note": "x"}),
                  ("get", "/control-room", None)]
        for who in ("police", "planner", "dpo", "judge", "admin", "node:alpha", None):
            headers = w.as_(who) if who else {}
            codes = {w.client.request(m, p, headers=headers, json=b).status_code
                     for m, p, b in routes}
            expect(f"{who or 'anonymous'} refused everywhere {sorted(codes)}",
                   codes <= {401, 403})
        op = w.as_("operator")
        for name in ("police", "dpo", "nobody", "admin"):
            code = w.client.post(f"/incidents/{incident}/assign", headers=op,
                                 json={"username": name}).status_code
            expect(f"assign to {name} refused ({code})", code in (404, 409, 422))
        code = w.client.post(f"/incidents/{incident}/close", headers=op,
                             json={"note": "x", "state": "new"}).status_code
        expect(f"extra field in a close body refused ({code})", code == 422)
        # a second operator, then deactivated: no longer assignable
        w.client.post("/users", headers=w.as_("admin"), json={
            "username": "op2", "role": "site_operator", "agency": "city", "password": PASSWORD})
        assert w.client.post(f"/incidents/{incident}/assign", headers=op,
                             json={"username": "op2"}).status_code == 200
        assert w.client.post(f"/incidents/{incident}/close", headers=op,
                             json={"note": NOTE}).status_code == 200
        again = {w.client.post(f"/incidents/{incident}/{a}", headers=op, json=b).status_code
                 for a, b in (("acknowledge", None), ("assign", {"username": "operator"}),
                              ("close", {"note": "again"}))}
        expect(f"closed incident stays closed {sorted(again)}", again == {409})
        page = w.client.get("/control-room", headers=op)
        expect("note escaped on the page", "<script>alert(1)" not in page.text
               and "&lt;script&gt;" in page.text)
        expect("page CSP forbids inline script",
               "'unsafe-inline'" not in page.headers.get("content-security-policy", "x")
               and "script-src" in page.headers.get("content-security-policy", ""))
        # a browser signed in through the login page, posting without the CSRF header
        browser = TestClient(w.client.app, follow_redirects=False)
        browser.get("/login", headers={"Accept": "text/html"})
        signed_in = browser.post("/login", data={"username": "operator", "password": PASSWORD,
                                                 "csrf": browser.cookies["safecity_csrf"]})
        (incident2,) = send(w, [event(datetime.now(UTC), camera="gate", zone="x")]).incidents
        bare = browser.post(f"/incidents/{incident2}/acknowledge").status_code
        forged = browser.post(f"/incidents/{incident2}/acknowledge",
                              headers={"X-CSRF-Token": "0" * 43}).status_code
        good = browser.post(f"/incidents/{incident2}/acknowledge",
                            headers={"X-CSRF-Token": browser.cookies["safecity_csrf"]})
        expect(f"cookie session without / with a wrong CSRF token refused ({bare}, {forged}; "
               f"login {signed_in.status_code}, with the token {good.status_code})",
               signed_in.status_code == 303 and bare == forged == 403
               and good.status_code == 200)
        # the public log, as anyone reads it
        entries = w.client.get("/audit/entries?start=0&limit=500").json()
        entries = entries if isinstance(entries, list) else entries["entries"]
        handled = [e for e in entries if e["record"]["action"] == "alert_handled"]
        expect(f"{len(handled)} alert_handled entries public", len(handled) == 3)
        public = json.dumps(handled) + "".join(
            base64.b64decode(e["data"]).decode() for e in handled)
        for secret in ('"operator"', "op2", "lobby", "vault", "site-a", "alert(1)",
                       "seen near"):
            expect(f"public audit log free of {secret!r}", secret not in public)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
