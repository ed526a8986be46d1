// The citizen's check of the transparency report, done in the browser without trusting the
// server: the checkpoint's Ed25519 signature (C2SP signed note), the RFC 9162 Merkle root of
// the log entries, and every count of the report recomputed from the entries.
// The counting rules mirror audit/transparency.py: change both together.
"use strict";

(() => {
  const enc = new TextEncoder();
  const dec = new TextDecoder("utf-8", { fatal: true });

  class Failure extends Error {}

  function unb64(text, what) {
    try {
      return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    } catch {
      throw new Failure(`${what} is not valid base64`);
    }
  }
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) { out.set(part, at); at += part.length; }
    return out;
  }
  const sha256 = async (data) => new Uint8Array(await crypto.subtle.digest("SHA-256", data));

  async function logKey(vkey) {
    const parts = vkey.trim().split("+");
    if (parts.length < 3) throw new Failure("the log key is not NAME+KEYID+BASE64KEY");
    const [name, id] = parts;
    const raw = unb64(parts.slice(2).join("+"), "the log key");
    if (raw.length !== 33 || raw[0] !== 0x01) throw new Failure("the log key is not an Ed25519 note key");
    const keyId = (await sha256(concat(enc.encode(name), Uint8Array.of(0x0a), raw))).slice(0, 4);
    if (hex(keyId) !== id.toLowerCase()) throw new Failure("the log key's ID does not match its name and key");
    let key;
    try {
      key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
    } catch (error) {
      throw new Failure(`this browser cannot check Ed25519 signatures (${error.message}); use safecity audit verify`);
    }
    return { name, keyId, key };
  }

  // A C2SP signed note carrying a tlog-checkpoint, signed by the log key.
  async function openCheckpoint(note, log) {
    const cut = note.lastIndexOf("\n\n");
    if (cut < 0) throw new Failure("the checkpoint is not a signed note");
    const text = note.slice(0, cut + 1);
    const lines = note.slice(cut + 2).split("\n").filter((line) => line !== "");
    let signed = false;
    for (const line of lines) {
      const match = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!match || match[1] !== log.name) continue;
      const blob = unb64(match[2], "a checkpoint signature");
      if (blob.length !== 68 || hex(blob.slice(0, 4)) !== hex(log.keyId)) continue;
      signed = await crypto.subtle.verify({ name: "Ed25519" }, log.key, blob.slice(4), enc.encode(text));
      if (!signed) throw new Failure("the checkpoint's signature does not verify with the log key (forged or altered)");
    }
    if (!signed) throw new Failure("the checkpoint carries no signature by the log key");
    const [origin, size, root] = text.split("\n");
    if (origin !== log.name) throw new Failure(`the checkpoint's origin ${origin} is not the log key's ${log.name}`);
    if (!/^(0|[1-9][0-9]{0,15})$/.test(size)) throw new Failure("the checkpoint's size is not a number");
    const rootBytes = unb64(root, "the checkpoint's root");
    if (rootBytes.length !== 32) throw new Failure("the checkpoint's root is not a SHA-256 hash");
    return { size: Number(size), root: rootBytes };
  }

  // RFC 9162 section 2.1.1: MTH of leaves[lo, hi).
  async function treeHash(leaves, lo, hi) {
    const n = hi - lo;
    if (n === 0) return sha256(new Uint8Array(0));
    if (n === 1) return leaves[lo];
    let k = 1;
    while (k * 2 < n) k *= 2;
    const left = await treeHash(leaves, lo, lo + k);
    const right = await treeHash(leaves, lo + k, hi);
    return sha256(concat(Uint8Array.of(0x01), left, right));
  }

  // ---- the report, counted as audit/transparency.py counts it ----
  const SEARCH_BASES = ["warrant", "consent"];
  const SITE_OUTCOMES = ["trained", "dropped", "declined"];
  const WARRANT_ACTIONS = ["warrant_drafted", "warrant_registered", "warrant_declined",
    "warrant_refused", "warrant_revoked", "warrant_expired", "warrant_used"];

  function bump(table, month, key, by = 1) {
    table[month] ??= {};
    table[month][key] = (table[month][key] ?? 0) + by;
  }

  function report(records, size, root) {
    const actions = {}, searches = {}, warrants = {}, hits = {}, disclosures = {};
    const policy = [], runs = new Map(), spent = {};
    for (const r of records) {
      const month = r.time.slice(0, 7);
      bump(actions, month, r.action);
      if (SEARCH_BASES.includes(r.legal_basis)) {
        const purpose = r.purpose_code ?? "unspecified";
        if (r.action === "query_dispatched") bump(searches, month, purpose);
        else if (r.action === "query_answered") bump(hits, month, purpose, r.counts_returned ?? 0);
        else if (r.action === "disclosure") {
          const recipients = (r.recipients ?? []).length ? r.recipients : ["unnamed"];
          for (const to of recipients) bump(disclosures, month, `${r.actor.role}:${to}`);
        }
      }
      if (WARRANT_ACTIONS.includes(r.action)) bump(warrants, month, r.action);
      if (r.action === "config_change") policy.push({ time: r.time, by: r.actor.role, outcome: r.outcome });
      const sites = (r.scope ?? {}).sites ?? [];
      if (r.action === "training_run" && r.training) {
        const id = r.training.run_id;
        if (!runs.has(id)) {
          runs.set(id, { run_id: id, task: r.training.task, started: r.time, status: "started", rounds: 0, sites: {} });
        }
        const run = runs.get(id);
        if (SITE_OUTCOMES.includes(r.outcome)) {
          const loss = r.privacy_loss ? [Number(r.privacy_loss.epsilon), Number(r.privacy_loss.delta ?? "0")] : [0, 0];
          for (const site of sites) run.sites[site] = { outcome: r.outcome, epsilon: loss[0], delta: loss[1] };
        } else if (r.outcome !== "started") {
          Object.assign(run, { status: r.outcome, finished: r.time, rounds: r.training.rounds });
        }
      }
      if (r.privacy_loss) {
        const kind = { training_run: "training", aggregate_released: "aggregates" }[r.action] ?? r.action;
        const epsilon = Number(r.privacy_loss.epsilon);
        for (const site of sites) {
          spent[site] ??= {};
          spent[site][kind] = (spent[site][kind] ?? 0) + epsilon;
          spent[site].total = (spent[site].total ?? 0) + epsilon;
        }
      }
    }
    return {
      checkpoint: { size, root: hex(root) }, actions_by_month: actions, searches_by_purpose: searches,
      warrants_by_month: warrants, hits_by_purpose: hits, disclosures_by_recipient: disclosures,
      policy_changes: policy, trainings: [...runs.values()], privacy_budget_spent: spent,
    };
  }

  // The first place two JSON values differ, as "path: published X, log says Y"; or null.
  function difference(published, counted, path = "report") {
    const isObject = (v) => v !== null && typeof v === "object";
    if (!isObject(published) || !isObject(counted)) {
      const same = typeof published === "number" && typeof counted === "number"
        ? Math.abs(published - counted) <= 1e-9 * Math.max(1, Math.abs(counted))
        : published === counted;
      return same ? null : `${path}: the report says ${JSON.stringify(published)}, the log says ${JSON.stringify(counted)}`;
    }
    if (Array.isArray(published) !== Array.isArray(counted)) return `${path}: not the same kind of value`;
    const keys = new Set([...Object.keys(published), ...Object.keys(counted)]);
    for (const key of keys) {
      const found = difference(published[key], counted[key], `${path}.${key}`);
      if (found) return found;
    }
    return null;
  }

  async function fetchJson(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Failure(`${path} answered HTTP ${response.status}`);
    return response.json();
  }

  async function check(vkey, step) {
    const log = await logKey(vkey);
    step(`Log key ${log.name} (ID ${hex(log.keyId)}) is well formed.`);
    const published = await fetchJson("/portal/report.json");
    const checkpoint = await openCheckpoint(published.checkpoint, log);
    step(`The report's checkpoint is signed by the log key: ${checkpoint.size} entries, root ${hex(checkpoint.root)}.`);
    const claimed = published.report.checkpoint;
    if (claimed.size !== checkpoint.size || claimed.root !== hex(checkpoint.root)) {
      throw new Failure("the report names a different tree (size or root) than its signed checkpoint");
    }
    const bundle = await fetchJson("/audit/bundle");
    if (bundle.origin !== log.name) throw new Failure(`the log's origin ${bundle.origin} is not the log key's`);
    const entries = bundle.entries;
    if (entries.length < checkpoint.size) {
      throw new Failure(`the checkpoint signs ${checkpoint.size} entries but the log holds ${entries.length} (truncated)`);
    }
    const leaves = [], records = [];
    for (let i = 0; i < checkpoint.size; i++) {
      const entry = entries[i];
      if (entry.index !== i) throw new Failure(`entry ${i} is missing or out of place (found ${entry.index})`);
      const data = unb64(entry.data, `entry ${i}`);
      const leaf = await sha256(concat(Uint8Array.of(0x00), data));
      if (entry.leaf_hash !== undefined && hex(unb64(entry.leaf_hash, `entry ${i}'s leaf hash`)) !== hex(leaf)) {
        throw new Failure(`entry ${i}: its data does not match its stored leaf hash (altered)`);
      }
      leaves.push(leaf);
      try {
        records.push(JSON.parse(dec.decode(data)));
      } catch {
        throw new Failure(`entry ${i} is not a JSON audit record`);
      }
    }
    const root = await treeHash(leaves, 0, leaves.length);
    if (hex(root) !== hex(checkpoint.root)) {
      throw new Failure(`the ${checkpoint.size} entries hash to ${hex(root)}, not the signed root: an entry was altered, removed, inserted or reordered`);
    }
    step(`All ${checkpoint.size} entries hash to the signed root (RFC 9162).`);
    const mismatch = difference(published.report, report(records, checkpoint.size, checkpoint.root));
    if (mismatch) throw new Failure(`the published numbers differ from the log: ${mismatch}`);
    step("Every number in the report is what the log entries say.");
    return checkpoint;
  }

  function start() {
    const form = document.getElementById("verify-form");
    const status = document.getElementById("verify-status");
    const steps = document.getElementById("verify-steps");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      steps.replaceChildren();
      status.className = "status";
      status.textContent = "Checking…";
      const step = (text) => {
        const item = document.createElement("li");
        item.textContent = `✓ ${text}`;
        steps.append(item);
      };
      try {
        const checkpoint = await check(document.getElementById("log-key").value, step);
        status.className = "status ok";
        status.dataset.result = "verified";
        status.textContent = `Verified: the report is exactly what the city's signed log of ${checkpoint.size} entries says.`;
      } catch (error) {
        status.className = "status failed";
        status.dataset.result = "failed";
        const reason = error instanceof Failure ? error.message : `the check could not run (${error.message})`;
        status.textContent = `Verification FAILED: ${reason}`;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
