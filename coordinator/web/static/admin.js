// The admin page: enrol a node from the document `safecity node keys` printed (pasted as is),
// create and disable users. Every action is a call to the coordinator's own API (POST /nodes,
// POST /users, POST /users/{name}/disable) with the session's CSRF token: the API checks the
// caller's role and writes the audit entry, as for any other client. A refusal is shown whole:
// every invalid field of a 422, every step a 409 says must come first.
"use strict";

(() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const DONE = "safecity-admin-done";

  async function api(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(answer.detail || `HTTP ${response.status}`);
      error.problem = answer;
      throw error;
    }
    return answer;
  }

  // A problem's items: each invalid field (RFC 9457 "errors") or each step to take first.
  function items(problem) {
    const out = [];
    for (const e of problem.errors || []) {
      const where = e.pointer ? (e.pointer === "#" ? "the document" : e.pointer.replace(/^#\//, "").replaceAll("/", ".")) : e.parameter;
      out.push(`${where}: ${e.detail}`);
    }
    for (const step of problem.steps || []) out.push(step);
    return out;
  }

  function show(box, text, list) {
    const head = box.querySelector("p") || box;
    head.textContent = text;
    const ul = box.querySelector("ul");
    if (ul) {
      ul.replaceChildren(...list.map((t) => { const li = document.createElement("li"); li.textContent = t; return li; }));
    }
    box.hidden = false;
    box.focus();
  }

  const enrol = document.getElementById("enrol-form");
  enrol?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const problem = document.getElementById("enrol-problem");
    const done = document.getElementById("enrolled");
    problem.hidden = true;
    done.hidden = true;
    let document_;
    try {
      document_ = JSON.parse(enrol.elements.document.value);
    } catch (error) {
      show(problem, `This is not the JSON document that safecity node keys prints: ${error.message}`, []);
      return;
    }
    try {
      const enrolled = await api("/nodes", document_);
      document.getElementById("enrolled-text").textContent =
        `Enrolled ${enrolled.node_id} at site ${enrolled.site_id} (cameras: ${enrolled.cameras.join(", ")}). ` +
        "Hand the enrolment document to the site for `safecity node enrol`.";
      const link = document.getElementById("enrolled-file");
      link.href = `/admin/nodes/${encodeURIComponent(enrolled.node_id)}/enrolment.json`;
      link.textContent = `Download ${enrolled.node_id}-enrolment.json`;
      done.hidden = false;
      done.focus?.();
    } catch (error) {
      const list = items(error.problem || {});
      show(problem, list.length ? `Refused (${error.problem.title || "error"}); fix each of these, then enrol again:` : error.message, list);
    }
  });

  const userProblem = document.getElementById("user-problem");
  const userDone = document.getElementById("user-done");
  const remembered = sessionStorage.getItem(DONE);
  if (remembered && userDone) {
    sessionStorage.removeItem(DONE);
    userDone.textContent = remembered;
    userDone.hidden = false;
  }

  const form = document.getElementById("user-form");
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    userProblem.hidden = true;
    const body = { username: f.username.value.trim(), role: f.role.value, agency: f.agency.value.trim(), password: f.password.value };
    if (f.signing_key.value.trim()) body.signing_key = f.signing_key.value.trim();
    try {
      const made = await api("/users", body);
      sessionStorage.setItem(DONE, `Created ${made.role} ${made.username} (${made.agency}).`);
      location.reload();
    } catch (error) {
      show(userProblem, [error.message, ...items(error.problem || {})].join(" — "), []);
    }
  });

  for (const button of document.querySelectorAll("button.disable")) {
    button.addEventListener("click", async () => {
      const name = button.dataset.user;
      if (!confirm(`Disable ${name}? Their sessions and tokens stop working at once.`)) return;
      userProblem.hidden = true;
      try {
        const answer = await api(`/users/${encodeURIComponent(name)}/disable`, {});
        sessionStorage.setItem(DONE, `Disabled ${name}.${answer.note ? " " + answer.note : ""}`);
        location.reload();
      } catch (error) {
        show(userProblem, error.message, []);
      }
    });
  }
})();
