// The planner's page: the cost table follows the form (what each site would spend and have
// left, from GET /planner/cost), and a question's page waits for the sites' answers (GET
// /aggregates/{id}?wait=...) and then shows them. The form itself is a plain HTML form: it
// works without this script.
"use strict";

(() => {
  const number = (v) => (v === null || v === undefined ? null : Number(v));
  const shown = (v) => (v === null ? null : Number(v.toPrecision(4)).toString());
  const VERDICTS = { enough: "yes, enough budget left", refuse: "no: too little budget left",
                     unknown: "unknown until its first answer" };

  function cell(label, text, numeric = false) {
    const td = document.createElement("td");
    td.dataset.label = label;
    td.textContent = text;
    if (numeric) td.className = "num";
    return td;
  }

  function leftNow(n) {
    const td = cell("Left now", n.left === null ? "not reported yet" : shown(number(n.left)), true);
    if (n.left !== null) {
      const note = document.createElement("span");
      note.className = "note";
      let words = `estimate; reported ${n.reported}`;
      if (n.period) {
        words += `; ${n.renewed ? "new period since: " : "period "}${n.period}`;
        words += `; lifetime left ${shown(number(n.lifetime_left))}`;
      }
      note.textContent = ` (${words})`;
      td.append(note);
    }
    return td;
  }

  function costForm(form) {
    const status = document.getElementById("cost-status");
    const body = document.querySelector("#costs tbody");
    const expected = document.getElementById("expected-error");
    let timer = null, asked = 0;

    async function update() {
      const params = new URLSearchParams();
      params.set("epsilon", form.elements.epsilon.value);
      params.set("delta", form.elements.delta.value);
      for (const name of ["sites", "cameras"])
        for (const box of form.querySelectorAll(`input[name="${name}"]:checked`)) params.append(name, box.value);
      const mine = ++asked;
      const response = await fetch(`/planner/cost?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const answer = await response.json().catch(() => ({}));
      if (mine !== asked) return;  // a newer change is on its way
      if (!response.ok) {
        status.textContent = answer.detail || `The cost could not be worked out (HTTP ${response.status}).`;
        status.className = "status warn";
        return;
      }
      body.replaceChildren(...answer.nodes.map((n) => {
        const row = document.createElement("tr");
        row.append(cell("Site", n.site_id), cell("Cameras", n.cameras.join(", ")),
          cell("Costs (epsilon)", String(n.epsilon), true),
          leftNow(n),
          cell("Left after", n.after === null ? "unknown" : shown(number(n.after)), true),
          cell("Will it answer", VERDICTS[n.verdict]));
        return row;
      }));
      if (!answer.nodes.length) {
        const row = document.createElement("tr"), td = cell("", "No enrolled site has those sites and cameras.");
        td.colSpan = 6;
        row.append(td);
        body.append(row);
      }
      const refusing = answer.nodes.filter((n) => n.verdict === "refuse").length;
      const count = answer.nodes.length;
      let text = `${count} site${count === 1 ? "" : "s"} would be asked, at epsilon ${form.elements.epsilon.value} each.`;
      if (answer.over_cap) text = `Too much: one question may spend at most epsilon ${answer.cap} at each site.`;
      else if (refusing) text += ` ${refusing} would refuse: too little budget left.`;
      status.textContent = text;
      status.className = answer.over_cap || refusing ? "status warn" : "status";
      expected.textContent = answer.half_width === null ? ""
        : `At these settings 95% of counts will be within ±${answer.half_width} of the true count.`;
    }

    form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(update, 250); });
    form.addEventListener("change", () => { clearTimeout(timer); timer = setTimeout(update, 50); });
  }

  async function waitForAnswers(data) {
    const status = document.getElementById("answer-status");
    for (let tries = 0; tries < 60; tries++) {
      const response = await fetch(`/aggregates/${encodeURIComponent(data.dataset.queryId)}?wait=5`,
        { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) {
        status.textContent = `The answers could not be read (HTTP ${response.status}); reload the page to try again.`;
        return;
      }
      const view = await response.json();
      if (view.status === "complete") {
        location.reload();
        return;
      }
    }
  }

  const form = document.getElementById("ask-form");
  if (form) costForm(form);
  const data = document.getElementById("aggregate-data");
  if (data && data.dataset.pending === "true") waitForAnswers(data);
})();
