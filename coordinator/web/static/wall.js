// The video wall: a size x size grid of live views that the operator arranges (a list per tile
// to choose its camera, "Earlier"/"Later" buttons to move a tile, or dragging one tile onto
// another) and saves on the server (PUT /control-room/wall/layout with the session's CSRF
// token). Every two seconds it asks which snapshots are new (live_views.js, shared with the
// control room's camera table) and loads a picture only for a tile whose camera has a newer
// one than it shows, so a camera whose first snapshot arrives after the page loaded starts
// showing without a reload. An alert on the live feed
// (/alerts/stream) pops its camera onto the wall, highlighted: in its own tile if it is on the
// wall, otherwise in the last tile until the operator dismisses it.
"use strict";

(() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const cameras = new Map();  // "node_id/camera" -> {node_id, site, camera, snapshot}
  let size = 1;
  let tiles = [null];
  let popped = null;  // {index, previous, text}: the tile an incident took over
  const showing = [];  // per tile: the snapshot time its picture shows

  const named = (tile) => {
    const camera = cameras.get(tile);
    return camera ? `${camera.camera} at ${camera.site}` : tile;
  };
  const place = (i) => `tile ${i + 1} (row ${Math.floor(i / size) + 1}, column ${(i % size) + 1})`;

  function element(tag, attributes = {}, text = "") {
    const made = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
    if (text) made.textContent = text;
    return made;
  }

  function unsaved() {
    document.getElementById("wall-saved").textContent = "Changed, not saved yet.";
  }

  // the picture of tile i: the newest snapshot of its camera, fetched only when it is newer
  function paint(i) {
    const tile = document.querySelector(`#wall .tile[data-index="${i}"]`);
    if (!tile) return;
    const view = tile.querySelector(".view");
    const camera = cameras.get(tiles[i]);
    if (!camera || !camera.snapshot) {
      showing[i] = null;
      view.replaceChildren(element("p", { class: "placeholder" },
        camera ? `No snapshot from ${named(tiles[i])} yet.` : "Empty tile."));
      return;
    }
    if (showing[i] === camera.snapshot && view.querySelector("img")) return;
    showing[i] = camera.snapshot;
    view.replaceChildren(...SafecityLive.picture(camera, `Redacted live view of camera ${named(tiles[i])}`,
      document.getElementById("wall-data").dataset.zone));
  }

  function options(select, chosen) {
    select.append(element("option", { value: "" }, "(empty)"));
    for (const [key, camera] of cameras) {
      const option = element("option", { value: key }, `${camera.camera} (${camera.site})`);
      if (key === chosen) option.selected = true;
      select.append(option);
    }
  }

  function move(i, by, focusClass) {
    const j = i + by;
    if (j < 0 || j >= tiles.length) return;
    [tiles[i], tiles[j]] = [tiles[j], tiles[i]];
    if (popped && (popped.index === i || popped.index === j)) popped.index = popped.index === i ? j : i;
    build();
    unsaved();
    document.querySelector(`#wall .tile[data-index="${j}"] .${focusClass}`)?.focus();
  }

  function build() {
    const wall = document.getElementById("wall");
    wall.className = `wall size-${size}`;
    wall.replaceChildren();
    showing.length = 0;
    tiles.forEach((tile, i) => {
      const figure = element("figure", { class: "tile", "data-index": String(i), draggable: "true" });
      if (tile) figure.dataset.camera = tile;
      const bar = element("div", { class: "tile-bar" });
      const label = element("label", { for: `tile-${i}` }, `Camera in ${place(i)}`);
      const select = element("select", { id: `tile-${i}` });
      options(select, tile);
      select.addEventListener("change", () => {
        tiles[i] = select.value || null;
        if (popped && popped.index === i) popped = null;
        build();
        unsaved();
        document.getElementById(`tile-${i}`).focus();
      });
      const earlier = element("button", { type: "button", class: "earlier", "aria-label": `Move ${place(i)} earlier` }, "Earlier");
      const later = element("button", { type: "button", class: "later", "aria-label": `Move ${place(i)} later` }, "Later");
      earlier.disabled = i === 0;
      later.disabled = i === tiles.length - 1;
      earlier.addEventListener("click", () => move(i, -1, "earlier"));
      later.addEventListener("click", () => move(i, 1, "later"));
      bar.append(label, select, earlier, later);
      figure.append(bar);
      if (popped && popped.index === i) {
        figure.classList.add("incident");
        const note = element("p", { class: "incident-note" }, popped.text);
        const dismiss = element("button", { type: "button", class: "dismiss", "aria-label": `Dismiss the incident on ${place(i)}` }, "Dismiss");
        dismiss.addEventListener("click", () => {
          if (popped.previous !== undefined) tiles[i] = popped.previous;
          popped = null;
          build();
          document.getElementById(`tile-${i}`).focus();
        });
        note.append(" ", dismiss);
        figure.append(note);
      }
      figure.append(element("div", { class: "view" }));
      figure.addEventListener("dragstart", (event) => event.dataTransfer.setData("text/plain", String(i)));
      figure.addEventListener("dragover", (event) => event.preventDefault());
      figure.addEventListener("drop", (event) => {
        event.preventDefault();
        const from = Number(event.dataTransfer.getData("text/plain"));
        if (Number.isInteger(from) && from !== i) move(from, i - from, "earlier");
      });
      wall.append(figure);
      paint(i);
    });
    document.getElementById("wall-size").value = String(size);
  }

  function resize(to) {  // the cameras on the wall keep their order; the incident's tile ends
    const kept = arranged().tiles.filter(Boolean);
    popped = null;
    size = to;
    tiles = Array.from({ length: size * size }, (_, i) => kept[i] || null);
    build();
    unsaved();
  }

  async function refresh() {
    const known = await SafecityLive.snapshots();
    if (!known) return;
    const before = cameras.size;
    for (const camera of known) cameras.set(camera.tile, camera);
    if (cameras.size !== before) build();  // a newly enrolled camera joins every tile's list
    else tiles.forEach((_, i) => paint(i));
  }

  // what the operator saves: the wall as arranged, without the incident's temporary tile
  function arranged() {
    const saved = [...tiles];
    if (popped && popped.previous !== undefined) saved[popped.index] = popped.previous;
    return { size, tiles: saved };
  }

  async function save(event) {
    event.preventDefault();
    const status = document.getElementById("wall-saved");
    const response = await fetch("/control-room/wall/layout", {
      method: "PUT", credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(arranged()),
    });
    const answer = await response.json().catch(() => ({}));
    status.textContent = response.ok ? `Saved: a ${size} × ${size} wall.` : `Not saved: ${answer.detail || response.status}`;
  }

  async function incident(alert) {
    const tile = `${alert.node_id}/${alert.camera}`;
    if (!cameras.has(tile)) await refresh();
    const what = `${alert.type.replaceAll("_", " ")} at ${alert.camera} (${alert.site_id})`;
    if (popped && popped.previous !== undefined) tiles[popped.index] = popped.previous;
    const own = tiles.indexOf(tile);
    popped = own >= 0 ? { index: own, previous: undefined, text: `Incident: ${what}.` }
      : { index: tiles.length - 1, previous: tiles[tiles.length - 1], text: `Incident: ${what}.` };
    tiles[popped.index] = tile;
    build();
    document.getElementById("wall-feed").textContent = `Incident: ${what}, on ${place(popped.index)}.`;
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const feedStatus = document.getElementById("wall-feed");
    document.getElementById("wall-controls").addEventListener("submit", save);
    document.getElementById("wall-size").addEventListener("change", (event) => resize(Number(event.target.value)));
    const [layout] = await Promise.all([
      fetch("/control-room/wall/layout", { credentials: "same-origin", headers: { Accept: "application/json" } }).then((r) => r.json()),
      refresh(),
    ]);
    size = layout.size;
    tiles = layout.tiles;
    build();
    document.getElementById("wall").dataset.ready = "yes";
    setInterval(refresh, 2000);
    const latest = document.getElementById("wall-data").dataset.latest;
    const feed = new EventSource(`/alerts/stream?after=${encodeURIComponent(latest)}`);
    feed.addEventListener("open", () => { feedStatus.textContent = "Live: incidents pop onto the wall as alerts arrive."; feedStatus.dataset.live = "yes"; });
    feed.addEventListener("error", () => { feedStatus.textContent = "The live feed was interrupted; reconnecting…"; feedStatus.dataset.live = "no"; });
    feed.addEventListener("alert", (event) => incident(JSON.parse(event.data)));
  });
})();
