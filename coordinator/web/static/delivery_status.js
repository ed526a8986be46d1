// The status line of the alerts' actions (the MQTT broker, the webhooks) on the control room's
// pages: asked again from /delivery-status (the page's session) every 15 s, changed only when
// its message changes, so that its live region reads each change out once.
"use strict";

(() => {
  async function check() {
    const response = await fetch("/delivery-status", { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) return;
    const found = await response.json();
    const line = document.getElementById("delivery-status");
    if (!line || line.textContent === found.message) return;
    line.textContent = found.message;
    line.dataset.ok = found.ok ? "yes" : "no";
    line.classList.toggle("ok", found.ok);
    line.classList.toggle("warn", !found.ok);
  }

  document.addEventListener("DOMContentLoaded", () => {
    setInterval(() => check().catch(() => {}), 15000);
  });
})();
