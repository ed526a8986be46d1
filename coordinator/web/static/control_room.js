// The control room's incidents: when the live feed (/incidents/stream, authenticated by the
// page's session cookie) says an incident opened or changed, its row (if shown) takes the new
// count and state at once, and the page fetches itself again, with the same filters and page,
// and swaps in the counts per state, the incident table, the map and the cameras, keeping the
// keyboard focus where it was. The browser's EventSource resumes after a dropped connection
// with Last-Event-ID, so no change is missed. Acknowledging, taking and closing (with a note, in a
// dialog) call the incident API with the session's CSRF token. The cameras' live views follow
// their snapshots as the video wall's do (live_views.js). Filters and paging are a GET
// form and links: they work without this script.
"use strict";

(() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const REGIONS = ["#incident-counts", "#incidents-region", "#camera-map", "#cameras tbody"];
  let pending = null;
  let closing = null;  // the id of the incident the close dialog is for
  const zone = () => document.getElementById("room").dataset.zone;

  function say(text) {
    const status = document.getElementById("action-status");
    status.hidden = false;
    status.textContent = text;
  }

  async function refresh(focus) {
    const response = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const focused = focus || document.activeElement?.id;
    for (const selector of REGIONS) {
      const now = document.querySelector(selector);
      const next = fresh.querySelector(selector);
      if (now && next) now.replaceWith(document.importNode(next, true));
    }
    const target = focused && document.getElementById(focused);
    if (target) target.focus();
  }

  // the live views: a camera's cell takes its newest redacted snapshot when it is newer than
  // the one shown, including a camera that had none when the page loaded (live_views.js)
  async function liveViews() {
    const known = await SafecityLive.snapshots();
    for (const camera of known || []) {
      const cell = document.querySelector(`#cameras td.live[data-tile="${CSS.escape(camera.tile)}"]`);
      if (!cell || !camera.snapshot || cell.dataset.snapshot === camera.snapshot) continue;
      cell.dataset.snapshot = camera.snapshot;
      const [picture, caption] = SafecityLive.picture(camera,
        `Redacted live view of camera ${camera.camera} at ${camera.site}`, zone());
      picture.width = 320;
      cell.replaceChildren(picture, caption);
    }
  }

  function soon() {  // a burst of changes is one refresh
    clearTimeout(pending);
    pending = setTimeout(() => refresh(), 300);
  }

  async function act(id, action, body) {
    const response = await fetch(`/incidents/${encodeURIComponent(id)}/${action}`, {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    return { ok: response.ok, answer, detail: answer.detail || String(response.status) };
  }

  // after an action the focus goes to what comes next in the same row, or to the message
  function nextFocus(id) {
    for (const action of ["acknowledge", "assign", "close"]) {
      if (document.getElementById(`${action}-${id}`)) return `${action}-${id}`;
    }
    return "action-status";
  }

  async function handled(id, action, body) {
    const done = await act(id, action, body);
    if (!done.ok) {
      say(`Incident ${id} not ${action === "assign" ? "taken" : action + "d"}: ${done.detail}`);
      return done;
    }
    say(`Incident ${id} ${done.answer.state}${done.answer.owner ? `, owner ${done.answer.owner}` : ""}.`);
    await refresh("none");
    const next = document.getElementById(nextFocus(id));
    if (next) next.focus();
    return done;
  }

  function openClose(button) {
    const dialog = document.getElementById("close-dialog");
    closing = button.dataset.id;
    document.getElementById("close-h").textContent = `Close ${button.dataset.name}`;
    document.getElementById("close-problem").hidden = true;
    document.getElementById("close-note").value = "";
    dialog.showModal();
    document.getElementById("close-note").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const room = document.getElementById("room");
    const feedStatus = document.getElementById("feed-status");
    document.getElementById("action-status").tabIndex = -1;
    document.addEventListener("click", (event) => {
      const button = event.target.closest("#incidents button[data-action]");
      if (!button) return;
      const { action, id } = button.dataset;
      if (action === "close") openClose(button);
      else handled(id, action, action === "assign" ? { username: room.dataset.me } : undefined);
    });
    const dialog = document.getElementById("close-dialog");
    if (dialog) {
      document.getElementById("close-cancel").addEventListener("click", () => dialog.close());
      dialog.addEventListener("close", () => {  // back to the button that opened it, if any
        document.getElementById(`close-${closing}`)?.focus();
      });
      document.getElementById("close-form").addEventListener("submit", async (event) => {
        event.preventDefault();
        const note = document.getElementById("close-note").value.trim();
        const problem = document.getElementById("close-problem");
        if (!note) {
          problem.hidden = false;
          problem.textContent = "Say what was done before closing the incident.";
          return;
        }
        const id = closing;
        const done = await act(id, "close", { note });
        if (!done.ok) {
          problem.hidden = false;
          problem.textContent = `Not closed: ${done.detail}`;
          return;
        }
        closing = null;
        dialog.close();
        say(`Incident ${id} closed.`);
        await refresh("none");
        document.getElementById("action-status").focus();
      });
    }
    setInterval(liveViews, 2000);
    const feed = new EventSource(`/incidents/stream?after=${encodeURIComponent(room.dataset.latest)}`);
    feed.addEventListener("open", () => { feedStatus.textContent = "Live: incidents update as alerts arrive."; feedStatus.dataset.live = "yes"; });
    feed.addEventListener("error", () => { feedStatus.textContent = "The live feed was interrupted; reconnecting…"; feedStatus.dataset.live = "no"; });
    feed.addEventListener("incident", (event) => {
      const incident = JSON.parse(event.data);
      const row = document.querySelector(`#incidents tr[data-incident="${CSS.escape(String(incident.id))}"]`);
      if (row) {
        row.querySelector(".alert-count").textContent = String(incident.alert_count);
        row.querySelector(".state").firstChild.textContent = incident.state;
      }
      const what = `${incident.type.replaceAll("_", " ")} at ${incident.camera} (${incident.site_id})`;
      feedStatus.textContent = incident.change === "new"
        ? `New incident ${incident.id}: ${what}, ${incident.severity} severity.`
        : `Incident ${incident.id} ${incident.state}: ${what}, ${incident.alert_count} alerts.`;
      soon();
    });
  });
})();
