// The control room's offline map, drawn by the vendored Leaflet (static/vendor/leaflet) with
// nothing from another origin: the city's outline (/control-room/map/basemap.geojson) and,
// when the city hosts them on this origin, its raster tiles; each camera at its enrolled
// position (a keyboard-operable marker, its field of view drawn as a cone while the camera is
// shown on its own, not inside a cluster),
// clustered by Leaflet.markercluster when many are close; a camera with open incidents pulses,
// and so does a cluster holding one. The live feed (/alerts/stream) says when to ask again,
// and the page asks every 15 s in any case (closing an incident sends no alert). A device with
// open incidents (an SOS button, a sensor past its threshold) is drawn at its position as a
// pulsing square, outside the clusters.
"use strict";

(() => {
  const EARTH = 6371008.8;  // mean radius, metres (IUGG)
  const markers = new Map();  // "node_id/camera" -> marker
  let pending = null;

  const key = (camera) => `${camera.node_id}/${camera.camera}`;
  const named = (camera) => `Camera ${camera.camera} at ${camera.site}` +
    (camera.open ? `, ${camera.open} open incident${camera.open === 1 ? "" : "s"}` : ", no open incident") +
    (camera.active ? "" : ", withdrawn");

  function span(className, text) {
    const made = document.createElement("span");
    made.className = className;
    made.textContent = text;
    return made;
  }

  // the point `metres` from (lat, lon) along `bearing` (degrees from north): the spherical
  // destination formula (Sinnott; movable-type.co.uk/scripts/latlong.html), ample for a cone
  function destination(lat, lon, bearing, metres) {
    const rad = Math.PI / 180, d = metres / EARTH, b = bearing * rad, p = lat * rad;
    const q = Math.asin(Math.sin(p) * Math.cos(d) + Math.cos(p) * Math.sin(d) * Math.cos(b));
    const l = lon * rad + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p), Math.cos(d) - Math.sin(p) * Math.sin(q));
    return [q / rad, l / rad];
  }

  function cone(camera) {
    const points = [[camera.latitude, camera.longitude]];
    const from = camera.heading - camera.field_of_view / 2;
    const steps = Math.max(2, Math.ceil(camera.field_of_view / 10));
    for (let s = 0; s <= steps; s += 1) {
      points.push(destination(camera.latitude, camera.longitude, from + (camera.field_of_view * s) / steps, camera.range_m));
    }
    return points;
  }

  function icon(camera) {
    return L.divIcon({
      className: `camera-marker${camera.open ? " open" : ""}${camera.active ? "" : " withdrawn"}`,
      html: span("visually-hidden", named(camera)),
      iconSize: [18, 18],
    });
  }

  function clusterIcon(cluster) {
    const children = cluster.getAllChildMarkers();
    const open = children.filter((m) => m.options.camera.open > 0).length;
    const holder = document.createElement("span");
    holder.append(span("count", String(children.length)),
      span("visually-hidden", ` cameras here${open ? `, ${open} with open incidents` : ""}; zoom in`));
    return L.divIcon({ className: `camera-cluster${open ? " open" : ""}`, html: holder, iconSize: [40, 40] });
  }

  function popup(camera) {
    const box = document.createElement("div");
    box.append(span("popup-name", named(camera)), document.createElement("br"));
    const link = document.createElement("a");
    link.href = `/control-room?site_id=${encodeURIComponent(camera.site)}&camera=${encodeURIComponent(camera.camera)}`;
    link.textContent = `Incidents of ${camera.camera}`;
    box.append(link);
    return box;
  }

  function tabulate(cameras) {  // the table under the map, the same numbers in words
    for (const camera of cameras) {
      const cell = document.querySelector(`#map-cameras tr[data-camera="${CSS.escape(key(camera))}"] .open-count`);
      if (cell) cell.textContent = String(camera.open);
    }
  }

  async function cameras() {
    const response = await fetch("/control-room/map/cameras.json", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`cameras: ${response.status}`);
    return response.json();
  }

  const deviceNamed = (device) => `${device.type.replaceAll("_", " ")} at device ${device.device} (${device.site}), ` +
    `${device.open} open incident${device.open === 1 ? "" : "s"}`;

  function drawDevices(layer, devices) {
    layer.clearLayers();
    for (const device of devices) {
      const icon = L.divIcon({ className: "device-marker open", html: span("visually-hidden", deviceNamed(device)), iconSize: [18, 18] });
      L.marker([device.latitude, device.longitude], { icon, keyboard: true, title: deviceNamed(device) }).addTo(layer);
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const data = document.getElementById("map-data").dataset;
    const problem = document.getElementById("map-problem");
    const element = document.getElementById("city-map");
    const map = L.map(element, { minZoom: 2, maxZoom: 19, zoomSnap: 0.5 });
    map.attributionControl.setPrefix('<a href="/static/vendor/leaflet/LICENSE">Leaflet</a> (BSD-2-Clause)');
    if (data.tiles) L.tileLayer(data.tiles, { maxZoom: 19 }).addTo(map);
    let bounds = null;
    if (data.outline === "yes") {
      const response = await fetch("/control-room/map/basemap.geojson", { credentials: "same-origin" });
      if (response.ok) {
        const outline = L.geoJSON(await response.json(), { interactive: false, style: { className: "outline" } }).addTo(map);
        bounds = outline.getBounds();
      } else {
        const answer = await response.json().catch(() => ({}));
        problem.hidden = false;
        problem.textContent = `The basemap could not be shown: ${answer.detail || response.status}. The cameras are drawn without it.`;
      }
    }
    const cluster = L.markerClusterGroup({ iconCreateFunction: clusterIcon, showCoverageOnHover: false, maxClusterRadius: 50 });
    const everything = await cameras();
    const placed = everything.placed;
    const devices = L.layerGroup().addTo(map);
    drawDevices(devices, everything.devices);
    for (const camera of placed) {
      const marker = L.marker([camera.latitude, camera.longitude], { icon: icon(camera), keyboard: true, title: named(camera), camera });
      const view = L.polygon(cone(camera), { className: "fov", interactive: false });
      // the cluster group adds a marker to the map when it is shown on its own, and takes it
      // off when it joins a cluster: its cone follows it
      marker.on("add", () => view.addTo(map));
      marker.on("remove", () => view.remove());
      marker.bindPopup(() => popup(marker.options.camera));
      markers.set(key(camera), marker);
      cluster.addLayer(marker);
    }
    map.addLayer(cluster);
    if (bounds && bounds.isValid()) map.fitBounds(bounds);
    else if (placed.length) map.fitBounds(L.latLngBounds(placed.map((c) => [c.latitude, c.longitude])), { padding: [40, 40], maxZoom: 17 });
    else map.setView([0, 0], 2);
    element.dataset.ready = "yes";

    async function again() {  // open incidents changed: new icons, clusters recounted
      const got = await cameras().catch(() => null);  // unreachable: the next look retries
      if (!got) return;
      const fresh = got.placed;
      drawDevices(devices, got.devices);
      for (const camera of fresh) {
        const marker = markers.get(key(camera));
        if (!marker) continue;
        marker.options.camera = camera;
        marker.options.title = named(camera);
        marker.setIcon(icon(camera));
        marker.getElement()?.setAttribute("title", named(camera));  // a reused div keeps its old one
      }
      cluster.refreshClusters();
      tabulate(fresh);
    }
    // the feed brings new alerts only: a closed incident stops its camera pulsing at the next look
    setInterval(again, 15000);
    const feedStatus = document.getElementById("map-feed");
    const feed = new EventSource(`/alerts/stream?after=${encodeURIComponent(data.latest)}`);
    feed.addEventListener("open", () => { feedStatus.textContent = "Live: cameras with open incidents pulse."; feedStatus.dataset.live = "yes"; });
    feed.addEventListener("error", () => { feedStatus.textContent = "The live feed was interrupted; reconnecting…"; feedStatus.dataset.live = "no"; });
    feed.addEventListener("alert", (event) => {
      const alert = JSON.parse(event.data);
      feedStatus.textContent = `New alert: ${alert.type.replaceAll("_", " ")} at ${alert.camera} (${alert.site_id}).`;
      clearTimeout(pending);  // a burst of alerts is one look
      pending = setTimeout(again, 300);
    });
  });
})();
