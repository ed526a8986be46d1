// The citizen's check of the transparency report, done in the browser without trusting the
// server: the checkpoint's Ed25519 signature (C2SP signed note), the RFC 9162 Merkle root of
// the log entries, that the log only grew since this browser last verified it (an RFC 9162
// consistency proof from the checkpoint it remembers), the witnesses' cosignatures
// (c2sp.org/tlog-cosignature), that the entries agree with a checkpoint the witnesses' quorum
// cosigned (so that a first-time browser, which remembers nothing, still sees a log rewritten
// with the log key), and every count of the report recomputed from the entries.
// The counting rules mirror audit/transparency.py: change both together.
"use strict";

(() => {
  const enc = new TextEncoder();
  const dec = new TextDecoder("utf-8", { fatal: true });

  // kind: "failed", or "rolled-back" / "forked" when the log is not an extension of the one
  // this browser verified before.
  class Failure extends Error {
    constructor(message, kind = "failed") {
      super(message);
      this.kind = kind;
    }
  }

  function unb64(text, what) {
    try {
      return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    } catch {
      throw new Failure(`${what} is not valid base64`);
    }
  }
  function unhex(text) {
    return Uint8Array.from(text.match(/../g), (pair) => parseInt(pair, 16));
  }
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) { out.set(part, at); at += part.length; }
    return out;
  }
  const sha256 = async (data) => new Uint8Array(await crypto.subtle.digest("SHA-256", data));

  // A signed-note verifier key NAME+KEYID+base64(type || Ed25519 key) (c2sp.org/signed-note):
  // type 0x01 for the log, 0x04 for a witness's cosignatures.
  async function noteKey(vkey, type, what) {
    const parts = vkey.trim().split("+");
    if (parts.length < 3) throw new Failure(`${what} is not NAME+KEYID+BASE64KEY`);
    const [name, id] = parts;
    const raw = unb64(parts.slice(2).join("+"), what);
    if (raw.length !== 33 || raw[0] !== type) {
      throw new Failure(`${what} is not a type 0x0${type} Ed25519 note key`);
    }
    const keyId = (await sha256(concat(enc.encode(name), Uint8Array.of(0x0a), raw))).slice(0, 4);
    if (hex(keyId) !== id.toLowerCase()) throw new Failure(`${what}'s ID does not match its name and key`);
    let key;
    try {
      key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
    } catch (error) {
      throw new Failure(`this browser cannot check Ed25519 signatures (${error.message}); use safecity audit verify`);
    }
    return { name, keyId, key };
  }

  const logKey = (vkey) => noteKey(vkey, 0x01, "the log key");

  // The signature lines of a signed note: [{name, blob}].
  function signatureLines(note) {
    const cut = note.lastIndexOf("\n\n");
    const out = [];
    for (const line of note.slice(cut + 2).split("\n")) {
      const match = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (match) out.push({ name: match[1], blob: match[2] });
    }
    return out;
  }

  // A C2SP signed note carrying a tlog-checkpoint, signed by the log key.
  async function openCheckpoint(note, log) {
    const cut = note.lastIndexOf("\n\n");
    if (cut < 0) throw new Failure("the checkpoint is not a signed note");
    const text = note.slice(0, cut + 1);
    let signed = false;
    for (const line of signatureLines(note)) {
      if (line.name !== log.name) continue;
      const blob = unb64(line.blob, "a checkpoint signature");
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
    return { size: Number(size), root: rootBytes, text };
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

  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(0x01), left, right));

  // RFC 9162 section 2.1.4.2: does `proof` show the tree of size `first` (root firstRoot) is a
  // prefix of the tree of size `second` (root secondRoot)? Sizes as BigInt: no 32-bit shifts.
  async function consistent(first, second, firstRoot, secondRoot, proof) {
    if (first === second) return proof.length === 0 && hex(firstRoot) === hex(secondRoot);
    if (first < 1n || first > second || proof.length === 0) return false;
    const path = (first & (first - 1n)) === 0n ? [firstRoot, ...proof] : [...proof];
    let fn = first - 1n, sn = second - 1n;
    while (fn & 1n) { fn >>= 1n; sn >>= 1n; }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0n) return false;
      if ((fn & 1n) || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while (!(fn & 1n) && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= 1n; sn >>= 1n;
    }
    return hex(fr) === hex(firstRoot) && hex(sr) === hex(secondRoot) && sn === 0n;
  }

  // ---- what this browser verified before, per log origin (localStorage) ----
  const memoryKey = (origin) => `safecity.verified:${origin}`;

  function recall(origin) {
    let remembered;
    try {
      remembered = JSON.parse(localStorage.getItem(memoryKey(origin)) ?? "null");
    } catch {
      return null;
    }
    const ok = remembered && Number.isSafeInteger(remembered.size) && remembered.size > 0
      && /^[0-9a-f]{64}$/.test(remembered.root ?? "");
    return ok ? remembered : null;
  }

  function remember(origin, checkpoint) {
    const before = recall(origin);
    if (before && before.size > checkpoint.size) return;  // keep the newest
    const at = new Date().toISOString();
    localStorage.setItem(memoryKey(origin), JSON.stringify({ size: checkpoint.size, root: hex(checkpoint.root), at }));
  }

  const described = (r) => `${r.size} entries (root ${r.root.slice(0, 16)}…) on ${r.at}`;

  // The log must extend the newest checkpoint this browser verified: smaller is a rollback;
  // the same size with another root, or a consistency proof that fails, is a fork (a
  // different history shown to this browser than before).
  async function checkHistory(origin, checkpoint, step) {
    const before = recall(origin);
    if (before === null) {
      step("This browser had not verified this log before; it now remembers this checkpoint and will demand that the log only grows from it.");
      return;
    }
    if (checkpoint.size < before.size) {
      throw new Failure(`the log was ROLLED BACK: this browser verified ${described(before)}, the log now has only ${checkpoint.size} entries`, "rolled-back");
    }
    if (checkpoint.size === before.size) {
      if (hex(checkpoint.root) !== before.root) {
        throw new Failure(`the log FORKED: this browser verified ${described(before)}; the log now shows ${checkpoint.size} entries with another root ${hex(checkpoint.root).slice(0, 16)}…`, "forked");
      }
      step(`Same checkpoint as this browser verified before (${described(before)}).`);
      return;
    }
    const answer = await fetchJson(`/audit/proofs/consistency?first=${before.size}&second=${checkpoint.size}`);
    const proof = (answer.proof ?? []).map((p, i) => unb64(p, `consistency proof hash ${i}`));
    const ok = answer.first === before.size && answer.second === checkpoint.size
      && proof.every((hash) => hash.length === 32)
      && await consistent(BigInt(before.size), BigInt(checkpoint.size), unhex(before.root), checkpoint.root, proof);
    if (!ok) {
      throw new Failure(`the log FORKED: its ${checkpoint.size} entries do not extend the ${described(before)} this browser verified (the consistency proof does not verify)`, "forked");
    }
    step(`The log only grew since this browser verified ${described(before)}: consistency proof to ${checkpoint.size} entries checked (RFC 9162).`);
  }

  // ---- witnesses (c2sp.org/tlog-cosignature) ----
  async function witnessKeys(text) {
    const keys = [];
    for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
      keys.push(await noteKey(line, 0x04, `the witness key ${line.split("+")[0]}`));
    }
    return keys;
  }

  // How many of the witnesses must cosign a checkpoint for this browser to call it witnessed.
  function witnessQuorum(text, witnesses) {
    if (!witnesses.length) return 0;
    const quorum = Number(text);
    if (!Number.isInteger(quorum) || quorum < 1 || quorum > witnesses.length) {
      throw new Failure(`the witness quorum must be a whole number from 1 to ${witnesses.length} (the witness keys above)`);
    }
    return quorum;
  }

  // The witnesses whose cosignature lines are on the checkpoint: {checked: [{name, time}],
  // unchecked: [name]}. A line with a known witness's name and key ID must verify; where it
  // does not, the failure is of ``kind``.
  async function cosignatures(checkpoint, notes, witnesses, kind = "failed") {
    const lines = notes.flatMap(signatureLines);
    const checked = new Map(), unchecked = new Set();
    for (const line of lines) {
      const witness = witnesses.find((w) => w.name === line.name);
      if (!witness) {
        if (line.name !== checkpoint.origin) unchecked.add(line.name);
        continue;
      }
      const blob = unb64(line.blob, `the cosignature by ${line.name}`);
      if (hex(blob.slice(0, 4)) !== hex(witness.keyId)) { unchecked.add(line.name); continue; }
      if (blob.length !== 4 + 8 + 64) throw new Failure(`the cosignature by ${line.name} has the wrong length`);
      const time = new DataView(blob.buffer, blob.byteOffset + 4, 8).getBigUint64(0);
      if (time >= 2n ** 63n) throw new Failure(`the cosignature by ${line.name} has an invalid timestamp`);
      const message = enc.encode(`cosignature/v1\ntime ${time}\n${checkpoint.text}`);
      if (!await crypto.subtle.verify({ name: "Ed25519" }, witness.key, blob.slice(12), message)) {
        throw new Failure(kind === "forked"
          ? `the log FORKED: witness ${line.name}'s cosignature does not verify on the log's checkpoint of ${checkpoint.size} entries that it calls witnessed (the witnesses cosigned another history, or the line was altered)`
          : `the cosignature by witness ${line.name} does not verify (forged or altered)`, kind);
      }
      checked.set(line.name, new Date(Number(time) * 1000).toISOString());
    }
    for (const name of checked.keys()) unchecked.delete(name);
    return { checked: [...checked].map(([name, time]) => ({ name, time })), unchecked: [...unchecked] };
  }

  function witnessSummary(found, witnesses) {
    const parts = [];
    if (found.checked.length) {
      parts.push(`Cosigned by ${found.checked.map((w) => `${w.name} (at ${w.time})`).join(", ")}: verified with the witness keys above.`);
    } else if (witnesses.length) {
      parts.push(`The report's checkpoint itself is not cosigned by any of the ${witnesses.length} witnesses above (${witnesses.map((w) => w.name).join(", ")}) yet.`);
    } else {
      parts.push("No witnesses configured: nobody outside the city vouches for this checkpoint.");
    }
    if (found.unchecked.length) {
      parts.push(`Also carries cosignature lines by ${found.unchecked.join(", ")}, not checked (no key for them above).`);
    }
    return parts.join(" ");
  }

  // ---- the witnesses' quorum vouching for the verified entries ----
  const named = (found) => found.checked.map((w) => w.name).join(", ");

  // The log's newest checkpoint that the witnesses' quorum cosigned (what GET
  // /audit/checkpoint/witnessed serves) as note text; null where it has none (204).
  async function witnessedNote() {
    const response = await fetch("/portal/witnessed");
    if (response.status === 204) return null;
    if (!response.ok) throw new Failure(`/portal/witnessed answered HTTP ${response.status}`);
    return response.text();
  }

  // The witnessed checkpoint must describe the history verified here (RFC 9162): one within
  // the verified entries is the tree hash of their prefix; a larger one extends the report's
  // checkpoint by a consistency proof. Anything else is another history the witnesses saw.
  async function agrees(witnessed, checkpoint, leaves, names) {
    const forked = (why) => new Failure(`the log FORKED: the witnesses ${names} cosigned a checkpoint of ${witnessed.size} entries with root ${hex(witnessed.root).slice(0, 16)}…, ${why}`, "forked");
    if (witnessed.size <= checkpoint.size) {
      const prefix = await treeHash(leaves, 0, witnessed.size);
      if (hex(prefix) !== hex(witnessed.root)) throw forked(`but the first ${witnessed.size} entries verified here hash to ${hex(prefix).slice(0, 16)}…`);
      return;
    }
    if (checkpoint.size === 0) return;  // the empty tree is a prefix of every tree
    const response = await fetch(`/audit/proofs/consistency?first=${checkpoint.size}&second=${witnessed.size}`,
      { headers: { Accept: "application/json" } });
    if (!response.ok) throw forked(`and the log cannot prove that its ${checkpoint.size} entries are a prefix of it (HTTP ${response.status})`);
    const answer = await response.json();
    const proof = (answer.proof ?? []).map((p, i) => unb64(p, `consistency proof hash ${i}`));
    const ok = answer.first === checkpoint.size && answer.second === witnessed.size
      && proof.every((hash) => hash.length === 32)
      && await consistent(BigInt(checkpoint.size), BigInt(witnessed.size), checkpoint.root, witnessed.root, proof);
    if (!ok) throw forked(`and the consistency proof from the ${checkpoint.size} entries verified here does not verify`);
  }

  // How many of the verified entries the witnesses' quorum vouches for: {size, by} with the
  // witnesses' names, or {size: 0, why} where no checkpoint they cosigned is in sight. The
  // report's own checkpoint counts when it carries the quorum; the log's newest witnessed one
  // is always tied to the entries (a first-time browser remembers nothing to compare with).
  async function vouched(log, checkpoint, leaves, onReport, note, witnesses, quorum, step) {
    let size = 0, by = "", why = `the log serves no checkpoint that ${quorum} of the ${witnesses.length} witnesses cosigned`;
    if (onReport.checked.length >= quorum) {
      size = checkpoint.size;
      by = named(onReport);
    }
    const fewer = (found, entries) => `the checkpoint of ${entries} entries the log calls witnessed carries cosignatures by ${found.checked.length} of the witness keys above, fewer than the quorum of ${quorum}`;
    if (note !== null && !note.startsWith(`${checkpoint.text}\n`)) {
      const witnessed = await openCheckpoint(note, log);
      witnessed.origin = log.name;
      const found = await cosignatures(witnessed, [note], witnesses, "forked");
      if (found.checked.length >= quorum) {
        await agrees(witnessed, checkpoint, leaves, named(found));
        step(`The log's newest witnessed checkpoint (${witnessed.size} entries) is cosigned by ${named(found)} and agrees with the entries verified here (RFC 9162).`);
        if (Math.min(witnessed.size, checkpoint.size) > size) {
          size = Math.min(witnessed.size, checkpoint.size);
          by = named(found);
        }
      } else {
        why = fewer(found, witnessed.size);
      }
    } else if (size) {
      step(`The report's checkpoint is cosigned by ${by}: the quorum of ${quorum} of ${witnesses.length} witnesses.`);
    } else if (note !== null) {
      why = fewer(onReport, checkpoint.size);
    }
    return size ? { size, by } : { size: 0, why };
  }

  // ---- the report, counted as audit/transparency.py counts it ----
  const SEARCH_BASES = ["warrant", "consent"];
  const SITE_OUTCOMES = ["trained", "dropped", "declined"];
  const WARRANT_ACTIONS = ["warrant_drafted", "warrant_registered", "warrant_declined",
    "warrant_refused", "warrant_revoked", "warrant_expired", "warrant_used"];

  // the RECENT_DAYS window of audit/transparency.py, ending at the newest covered entry
  const RECENT_DAYS = 30;
  const RECENT = { searches: "query_dispatched", warrants_registered: "warrant_registered",
    warrants_declined: "warrant_declined", stopped_at_a_check: "warrant_refused",
    disclosures: "disclosure", alerts_handled: "alert_handled",
    statistics_released: "aggregate_released", access_denied: "access_denied" };

  function occurrences(r) {
    // an aggregated denial entry stands for counts_returned anonymous denials (audit/records.py)
    return r.action === "access_denied" && r.outcome === "denials_counted" ? (r.counts_returned ?? 0) : 1;
  }

  function recent(records) {
    const counts = { days: RECENT_DAYS, until: null, hits: 0 };
    for (const key of Object.keys(RECENT)) counts[key] = 0;
    if (!records.length) return counts;
    let newest = records[0];
    for (const r of records) if (Date.parse(r.time) > Date.parse(newest.time)) newest = r;
    counts.until = newest.time;
    const since = Date.parse(newest.time) - RECENT_DAYS * 86400000;
    for (const r of records) {
      if (Date.parse(r.time) <= since) continue;
      for (const [key, action] of Object.entries(RECENT)) if (r.action === action) counts[key] += occurrences(r);
      if (r.action === "query_answered" && SEARCH_BASES.includes(r.legal_basis)) counts.hits += r.counts_returned ?? 0;
    }
    return counts;
  }

  function bump(table, month, key, by = 1) {
    table[month] ??= {};
    table[month][key] = (table[month][key] ?? 0) + by;
  }

  function report(records, size, root) {
    const actions = {}, searches = {}, warrants = {}, hits = {}, disclosures = {}, refusals = {};
    const policy = [], runs = new Map(), spent = {};
    for (const r of records) {
      const month = r.time.slice(0, 7);
      bump(actions, month, r.action, occurrences(r));
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
      if (r.action === "warrant_refused") bump(refusals, month, r.outcome);
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
      warrants_by_month: warrants, refusals_by_reason: refusals, hits_by_purpose: hits,
      disclosures_by_recipient: disclosures, policy_changes: policy, trainings: [...runs.values()],
      privacy_budget_spent: spent, recent: recent(records),
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

  // The log's entries from the paginated /audit/bundle, following its "next" links until
  // ``size`` entries are in hand (or the log ends); each link must move forward.
  async function fetchEntries(log, size) {
    const entries = [];
    let url = new URL("/audit/bundle", window.location.href), cursor = -1;
    while (entries.length < size) {
      const page = await fetchJson(url.pathname + url.search);
      if (page.origin !== log.name) throw new Failure(`the log's origin ${page.origin} is not the log key's`);
      entries.push(...page.entries);
      if (!page.next) break;
      if (!page.entries.length) throw new Failure("the log sent an empty page that is not its last");
      url = new URL(page.next, url);
      const next = Number(url.searchParams.get("cursor"));
      if (!(next > cursor) || url.origin !== window.location.origin) throw new Failure("the log's pages do not move forward");
      cursor = next;
    }
    return entries;
  }

  async function check(vkey, witnessText, quorumText, step) {
    const log = await logKey(vkey);
    const witnesses = await witnessKeys(witnessText);
    const quorum = witnessQuorum(quorumText, witnesses);
    step(`Log key ${log.name} (ID ${hex(log.keyId)}) is well formed.`);
    const published = await fetchJson("/portal/report.json");
    const checkpoint = await openCheckpoint(published.checkpoint, log);
    step(`The report's checkpoint is signed by the log key: ${checkpoint.size} entries, root ${hex(checkpoint.root)}.`);
    const claimed = published.report.checkpoint;
    if (claimed.size !== checkpoint.size || claimed.root !== hex(checkpoint.root)) {
      throw new Failure("the report names a different tree (size or root) than its signed checkpoint");
    }
    const entries = await fetchEntries(log, checkpoint.size);
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
    await checkHistory(log.name, checkpoint, step);
    const mismatch = difference(published.report, report(records, checkpoint.size, checkpoint.root));
    if (mismatch) throw new Failure(`the published numbers differ from the log: ${mismatch}`);
    step("Every number in the report is what the log entries say.");
    checkpoint.origin = log.name;
    // the report's checkpoint as published, and as the log serves its newest witnessed one
    // (the same checkpoint once the witnesses' quorum has cosigned it)
    const note = await witnessedNote();
    const sameCheckpoint = note !== null && note.startsWith(`${checkpoint.text}\n`) ? [note] : [];
    const found = await cosignatures(checkpoint, [published.checkpoint, ...sameCheckpoint], witnesses);
    const vouch = witnesses.length
      ? await vouched(log, checkpoint, leaves, found, note, witnesses, quorum, step) : null;
    remember(log.name, checkpoint);
    return { checkpoint, vouch, quorum: `quorum ${quorum} of ${witnesses.length}`, witnesses: witnessSummary(found, witnesses) };
  }

  // The verdict: "verified" (vouched for by the witnesses' quorum where witnesses are named),
  // or "unwitnessed" where they are named but none of their quorum vouches for this log.
  function verdict({ checkpoint, vouch, quorum }) {
    const exact = `the report is exactly what the city's signed log of ${checkpoint.size} entries says`;
    if (vouch === null) return { result: "verified", css: "ok", text: `Verified: ${exact}.` };
    if (!vouch.size) {
      return { result: "unwitnessed", css: "warn", text: `Signed by the city's log key only, NOT witnessed: ${exact}, but nobody outside the city has vouched for this log yet (${vouch.why}).` };
    }
    const by = `vouched for by ${vouch.by} (${quorum})`;
    const which = vouch.size >= checkpoint.size ? `all ${checkpoint.size} entries are ${by}`
      : `the first ${vouch.size} entries are ${by}, the newest ${checkpoint.size - vouch.size} only by the city's log key`;
    return { result: "verified", css: "ok", text: `Verified: ${exact}; ${which}.` };
  }

  function showMemory() {
    const memory = document.getElementById("verify-memory");
    const origin = document.getElementById("log-key").value.trim().split("+")[0];
    const before = recall(origin);
    memory.textContent = before
      ? `This browser last verified ${origin}: ${described(before)}. The next check demands that the log extends it.`
      : `This browser has not verified ${origin} before.`;
  }

  function start() {
    const form = document.getElementById("verify-form");
    const status = document.getElementById("verify-status");
    const steps = document.getElementById("verify-steps");
    const cosigned = document.getElementById("verify-witnesses");
    showMemory();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      steps.replaceChildren();
      cosigned.textContent = "";
      status.className = "status";
      delete status.dataset.result;
      status.textContent = "Checking…";
      const step = (text) => {
        const item = document.createElement("li");
        item.textContent = `✓ ${text}`;
        steps.append(item);
      };
      try {
        const checked = await check(document.getElementById("log-key").value,
          document.getElementById("witness-keys").value,
          document.getElementById("witness-quorum").value, step);
        const { result, css, text } = verdict(checked);
        status.className = `status ${css}`;
        status.dataset.result = result;
        status.textContent = text;
        cosigned.textContent = checked.witnesses;
      } catch (error) {
        status.className = "status failed";
        status.dataset.result = error instanceof Failure ? error.kind : "failed";
        const reason = error instanceof Failure ? error.message : `the check could not run (${error.message})`;
        status.textContent = `Verification FAILED: ${reason}`;
      }
      showMemory();
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
