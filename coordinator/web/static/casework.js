// Casework pages: draft a warrant (a face search with one reference image per target), confirm
// its scope and sign it (in the browser with the judge's key, which never leaves the page, or by
// uploading what `safecity warrant sign` wrote) or decline with a reason, search under it and
// watch the answers. Every action is a call to the coordinator's API with the session's CSRF
// token; the API checks the caller's role as it does for any client.
"use strict";

(() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const b64 = (bytes) => {  // in slices: spreading a whole photo would overflow the call stack
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  };
  const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

  async function api(path, method = "GET", body = undefined) {
    const response = await fetch(path, {
      method,
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.detail || `HTTP ${response.status}`);
    return answer;
  }

  function problem(text) {
    const box = document.getElementById("form-problem");
    box.textContent = text;
    box.hidden = false;
    box.focus?.();
  }

  const utc = (local) => `${local}${local.length === 16 ? ":00" : ""}Z`;  // datetime-local, read as UTC
  const lines = (text) => text.split("\n").map((t) => t.trim()).filter(Boolean);
  const checked = (form, name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);

  // A face search's reference images, by target id: each file is named after its target.
  async function referenceImages(input) {
    const images = {};
    for (const file of input.files) {
      images[file.name.replace(/\.[^.]*$/, "")] = b64(new Uint8Array(await file.arrayBuffer()));
    }
    return images;
  }

  function draftForm(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = form.elements;
      try {
        const face = f.kind.value === "face_watchlist";
        const made = await api("/warrants", "POST", {
          kind: f.kind.value, purpose_code: f.purpose_code.value, case_number: f.case_number.value,
          justification: f.justification.value, sites: checked(form, "sites"), cameras: checked(form, "cameras"),
          window: { start: utc(f.window_start.value), end: utc(f.window_end.value) },
          not_before: new Date(Date.now() - 60_000).toISOString(), expires_at: utc(f.expires_at.value),
          max_uses: Number(f.max_uses.value), targets: lines(f.targets.value),
          ...(face ? { references: await referenceImages(f.references) } : {}),
        });
        window.location.assign(`/casework/warrants/${encodeURIComponent(made.warrant_id)}`);
      } catch (error) {
        problem(`The draft was not accepted: ${error.message}`);
      }
    });
  }

  // An Ed25519 private key as PKCS #8 (RFC 8410) around the 32-byte seed of a key file.
  function pkcs8(seed) {
    const prefix = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    return Uint8Array.from([...prefix, ...seed]);
  }

  async function seedOf(file) {
    const text = (await file.text()).trim();
    if (!text.startsWith("ed25519-private:")) throw new Error("this is not a key file made by safecity warrant keygen");
    const seed = unb64(text.slice("ed25519-private:".length));
    if (seed.length !== 32) throw new Error("the key file does not hold a 32-byte Ed25519 seed");
    return seed;
  }

  // What the coordinator's copy shows (plain targets, reference images, case text) must be what
  // the warrant being signed commits to: recomputed here with WebCrypto from the payload this page
  // signs, so that a tampered database cannot make the page show one thing and sign another.
  const DOMAIN = "safecity warrant/v1\n";
  const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const sha256 = async (...parts) => {
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => { bytes.set(p, at); return at + p.length; }, 0);
    return hex(await crypto.subtle.digest("SHA-256", bytes));
  };
  const utf8 = (text) => new TextEncoder().encode(text);

  // A plain PNG (contract/reference_image.py): IHDR first, then only IDAT, IEND last, nothing
  // after; no animation or profile for this browser to render otherwise than the search decodes.
  function plainPng(bytes) {
    const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
    if (bytes.length < 8 || signature.some((b, i) => bytes[i] !== b)) return false;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const kinds = [];
    let at = 8;
    while (at + 12 <= bytes.length && kinds[kinds.length - 1] !== "IEND") {
      kinds.push(String.fromCharCode(...bytes.subarray(at + 4, at + 8)));
      at += 12 + view.getUint32(at);
    }
    return at === bytes.length && kinds[0] === "IHDR" && kinds[kinds.length - 1] === "IEND"
      && kinds.length >= 3 && kinds.slice(1, -1).every((k) => k === "IDAT");
  }

  async function commitmentProblems(payload, held) {
    const text = new TextDecoder().decode(payload);
    if (!text.startsWith(DOMAIN)) return ["the payload is not a warrant"];
    const w = JSON.parse(text.slice(DOMAIN.length));
    const salt = unb64(w.target_salt);
    const wrong = [];
    // canonical JSON (kernel/canonical.py): keys sorted, no spaces, as JSON.stringify writes them
    const caseText = JSON.parse(document.getElementById("case-text").textContent);
    const lf = (t) => t.replace(/\r\n?/g, "\n");
    if (document.getElementById("scope-case").textContent !== caseText.case_number
        || lf(document.getElementById("scope-justification").textContent) !== lf(caseText.justification)) {
      wrong.push("the case text shown is not the case text checked");
    }
    if (w.case_commitment) {
      const canonical = JSON.stringify({ case_number: caseText.case_number, justification: caseText.justification });
      if (await sha256(salt, utf8(canonical)) !== w.case_commitment) wrong.push("the case number or justification is not the one the warrant commits to");
    }
    if (!held) return wrong;
    const targets = [...document.querySelectorAll("#scope-targets code")].map((c) => c.textContent);
    const shown = new Set(await Promise.all(targets.map((t) => sha256(salt, utf8(t)))));
    if (shown.size !== w.targets.length || !w.targets.every((c) => shown.has(c))) {
      wrong.push("the targets shown are not the ones the warrant commits to");
    }
    if (w.kind === "face_watchlist") {
      const images = [...document.querySelectorAll("#reference-images img")];
      const committed = new Set(w.references ?? []);
      const found = await Promise.all(images.map(async (img) => {
        const [head, body] = img.getAttribute("src").split(",", 2);
        const bytes = head === "data:image/png;base64" ? unb64(body) : new Uint8Array();
        if (!plainPng(bytes)) return null;
        const digest = await sha256(bytes);
        const canonical = JSON.stringify({ reference: img.dataset.target, sha256: digest });
        return committed.has(await sha256(salt, utf8(canonical))) ? img.dataset.target : null;
      }));
      const matched = new Set(found.filter((t) => t !== null));
      if (found.includes(null) || matched.size !== committed.size || targets.some((t) => !matched.has(t))) {
        wrong.push("the reference images shown are not the ones the warrant commits to");
      }
    }
    return wrong;
  }

  function signing(data) {
    const id = data.dataset.warrantId;
    const payload = unb64(data.dataset.payload);
    const role = data.dataset.signAs;
    const send = async (signature) => {
      await api(`/warrants/${encodeURIComponent(id)}/signatures`, "POST", { role, signature });
      window.location.reload();
    };
    // The confirm step: nothing is signed until the signer says they read the scope.
    // Nor until this browser has matched what is shown against the warrant's commitments.
    const confirm = document.getElementById("confirm-scope");
    const signButtons = document.querySelectorAll("#sign-form button, #upload-form button");
    let matches = false;
    confirm?.addEventListener("change", () => signButtons.forEach((b) => { b.disabled = !(matches && confirm.checked); }));
    const confirmed = () => {
      if (!matches) throw new Error("what this page shows does not match the warrant's commitments");
      if (!confirm?.checked) throw new Error("confirm first that you have read the scope you authorise");
    };
    const verdict = document.getElementById("commitment-check");
    if (verdict) {
      commitmentProblems(payload, data.dataset.held === "yes").catch((error) => [error.message]).then((wrong) => {
        matches = wrong.length === 0;
        data.dataset.commitments = matches ? "match" : "mismatch";
        verdict.textContent = matches
          ? "Checked in this browser: the targets, images and case text shown are the ones the warrant commits to."
          : `Signing is disabled: what this page shows does not match what you are asked to sign (${wrong.join("; ")}).`;
        verdict.className = matches ? "status" : "problem";
        if (confirm) confirm.disabled = !matches;
        if (!matches) problem(verdict.textContent);
      });
    }
    document.getElementById("decline-form")?.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const reason = document.getElementById("decline-reason").value.trim();
        await api(`/warrants/${encodeURIComponent(id)}/decline`, "POST", { role, reason });
        window.location.reload();
      } catch (error) {
        problem(`Not declined: ${error.message}`);
      }
    });
    document.getElementById("sign-form")?.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        confirmed();
        const file = document.getElementById("key-file").files[0];
        if (!file) throw new Error("choose your key file first");
        const key = await crypto.subtle.importKey("pkcs8", pkcs8(await seedOf(file)), { name: "Ed25519" }, false, ["sign"]);
        const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, payload));
        await send(b64(signature));
      } catch (error) {
        problem(`Not signed: ${error.message}`);
      }
    });
    document.getElementById("upload-form")?.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        confirmed();
        const file = document.getElementById("signed-file").files[0];
        if (!file) throw new Error("choose the signed warrant file first");
        let document_;
        try { document_ = JSON.parse(await file.text()); } catch { throw new Error("the file is not JSON"); }
        if (document_?.warrant?.warrant_id !== id) throw new Error(`the file is not warrant ${id}`);
        if (!document_[role]?.signature) throw new Error(`the file has no ${role} signature`);
        await send(document_[role].signature);
      } catch (error) {
        problem(`Not signed: ${error.message}`);
      }
    });
    document.getElementById("query-form")?.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const made = await api("/queries", "POST", { warrant_id: id, targets: lines(document.getElementById("query-targets").value) });
        window.location.assign(`/casework/queries/${encodeURIComponent(made.query_id)}`);
      } catch (error) {
        problem(`The search was not sent: ${error.message}`);
      }
    });
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text ?? "";
    row.append(td);
    return td;
  }

  // A face match: its confirmations so far, and this person's decision (the API refuses a
  // second decision by the same person, and roles that may not confirm).
  function confirmation(queryId, hit) {
    const box = document.createElement("span");
    box.textContent = `${hit.confirmation.status} (${hit.confirmation.match} confirmed, ${hit.confirmation.no_match} rejected) `;
    for (const [decision, label] of [["match", "Confirm match"], ["no_match", "Reject"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.addEventListener("click", async () => {
        try {
          const state = await api(`/queries/${encodeURIComponent(queryId)}/hits/${encodeURIComponent(hit.node_id)}/${encodeURIComponent(hit.sighting_id)}/confirmations`, "POST", { decision });
          box.firstChild.textContent = `${state.status} (${state.match} confirmed, ${state.no_match} rejected) `;
        } catch (error) {
          problem(`Not recorded: ${error.message}`);
        }
      });
      box.append(button);
    }
    return box;
  }

  async function watch(data) {
    const id = data.dataset.queryId;
    const status = document.getElementById("query-status");
    for (let tries = 0; tries < 120; tries++) {
      let view;
      try {
        view = await api(`/queries/${encodeURIComponent(id)}?wait=5`);
      } catch (error) {
        status.textContent = `The search cannot be shown: ${error.message}`;
        return;
      }
      const nodes = document.querySelector("#query-nodes tbody");
      nodes.replaceChildren(...view.nodes.map((n) => {
        const row = document.createElement("tr");
        [n.node_id, n.site_id, n.status, n.reason, String(n.hits)].forEach((t) => cell(row, t));
        return row;
      }));
      const hits = document.querySelector("#query-hits tbody");
      hits.replaceChildren(...(view.hits ?? []).map((h) => {
        const row = document.createElement("tr");
        [h.target, h.site_id, h.camera, h.time].forEach((t) => cell(row, t));
        const picture = cell(row, "");
        if (h.thumbnail) {
          const img = document.createElement("img");
          img.src = `data:image/jpeg;base64,${h.thumbnail}`;
          img.alt = `Redacted frame from camera ${h.camera} at ${h.time}`;
          picture.append(img);
        } else {
          picture.textContent = "none";
        }
        const decision = cell(row, "");
        if (h.confirmation) decision.append(confirmation(id, h));
        return row;
      }));
      status.textContent = view.status === "complete"
        ? `Complete: ${(view.hits ?? []).length} hit(s) from ${view.nodes.length} site(s).`
        : `Waiting for ${view.nodes.filter((n) => n.status === "pending").length} site(s)…`;
      status.dataset.result = view.status;
      if (view.status === "complete") return;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const draft = document.getElementById("draft-form");
    if (draft) draftForm(draft);
    const data = document.getElementById("warrant-data");
    if (data) signing(data);
    const query = document.getElementById("query-data");
    if (query) watch(query);
  });
})();
