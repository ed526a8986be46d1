// The control room's live alert queue: new alerts arrive as server-sent events from
// /alerts/stream (authenticated by the page's session cookie) and are added without a reload;
// acknowledging and closing call the alert API with the session's CSRF token.
"use strict";

(() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  function button(action, id, label) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.action = action;
    b.dataset.id = String(id);
    b.textContent = label;
    return b;
  }

  function row(alert, canHandle) {
    const tr = document.createElement("tr");
    tr.dataset.alert = String(alert.id);
    const values = [alert.id, alert.time, alert.type, alert.site_id, alert.camera,
      alert.zone || alert.line || "", alert.count, alert.state];
    values.forEach((value, i) => {
      const td = document.createElement("td");
      td.textContent = String(value ?? "");
      if (i === 6) td.className = "num";
      if (i === 7) td.className = "state";
      tr.append(td);
    });
    const actions = document.createElement("td");
    if (canHandle) actions.append(button("acknowledge", alert.id, "Acknowledge"), button("close", alert.id, "Close"));
    tr.append(actions);
    return tr;
  }

  function bumpCamera(alert) {
    const key = `${alert.camera}@${alert.site_id}`;
    for (const place of document.querySelectorAll(`[data-camera="${CSS.escape(key)}"]`)) {
      const count = place.querySelector(".open-count");
      if (count) count.textContent = String(Number(count.textContent) + 1);
      const last = place.querySelector(".last-alert");
      if (last) last.textContent = alert.time;
      place.classList.add("alerting");
    }
  }

  async function handle(target) {
    const { action, id } = target.dataset;
    const response = await fetch(`/alerts/${encodeURIComponent(id)}/${action}`, {
      method: "POST", headers: { Accept: "application/json", "X-CSRF-Token": csrf() }, credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    const status = document.getElementById("feed-status");
    if (!response.ok) {
      status.textContent = `Alert ${id} not ${action}d: ${answer.detail || response.status}`;
      return;
    }
    const tr = document.querySelector(`tr[data-alert="${CSS.escape(id)}"]`);
    if (answer.state === "closed") tr?.remove();
    else if (tr) {
      tr.querySelector(".state").textContent = answer.state;
      tr.querySelector('button[data-action="acknowledge"]')?.remove();
    }
    status.textContent = `Alert ${id} ${answer.state}.`;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const room = document.getElementById("room");
    const canHandle = room.dataset.canHandle === "yes";
    const body = document.querySelector("#alerts tbody");
    const status = document.getElementById("feed-status");
    body.addEventListener("click", (event) => {
      const target = event.target.closest("button[data-action]");
      if (target) handle(target);
    });
    setInterval(() => {  // the live views: the newest redacted snapshot of each camera
      for (const img of document.querySelectorAll("img[data-live]")) {
        img.src = `${img.src.split("?")[0]}?t=${Date.now()}`;
      }
    }, 2000);
    const feed = new EventSource(`/alerts/stream?after=${encodeURIComponent(room.dataset.latest)}`);
    feed.addEventListener("open", () => { status.textContent = "Live: new alerts appear here as they arrive."; status.dataset.live = "yes"; });
    feed.addEventListener("error", () => { status.textContent = "The live feed was interrupted; reconnecting…"; status.dataset.live = "no"; });
    feed.addEventListener("alert", (event) => {
      const alert = JSON.parse(event.data);
      if (document.querySelector(`tr[data-alert="${alert.id}"]`)) return;
      body.prepend(row(alert, canHandle));
      bumpCamera(alert);
      status.textContent = `New alert ${alert.id}: ${alert.type} at ${alert.camera} (${alert.site_id}).`;
    });
  });
})();
