// Live views, shared by the control room's camera table and the video wall: which cameras have
// a redacted snapshot and how new it is (/control-room/wall/cameras, polled), and the picture
// of one camera's newest snapshot with its time. A page keeps the snapshot time each picture
// shows and replaces the picture only when the camera has a newer one, so a camera whose first
// snapshot arrives after the page loaded starts showing without a reload, and an unchanged
// camera costs no picture download.
"use strict";

window.SafecityLive = (() => {
  // the cameras and their newest snapshot's time (null: none yet); null when the look failed
  // (the coordinator restarting: the next look tries again)
  async function snapshots() {
    const response = await fetch("/control-room/wall/cameras", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .catch(() => null);
    if (!response || !response.ok) return null;
    return (await response.json()).cameras;
  }

  // a camera's newest snapshot as nodes for a container: the picture and its time (in the
  // city's time zone when the page names one)
  function picture(camera, alt, zone) {
    const img = document.createElement("img");
    img.src = `/control-room/live/${encodeURIComponent(camera.node_id)}/${encodeURIComponent(camera.camera)}.jpg?t=${encodeURIComponent(camera.snapshot)}`;
    img.alt = alt;
    img.dataset.live = "";
    img.draggable = false;
    const time = document.createElement("time");
    time.dateTime = new Date(camera.snapshot).toISOString();  // milliseconds, as HTML allows
    time.textContent = new Date(camera.snapshot).toLocaleTimeString(undefined, zone ? { timeZone: zone } : {});
    const caption = document.createElement("p");
    caption.className = "live-time";
    caption.append("Snapshot ", time);
    return [img, caption];
  }

  return { snapshots, picture };
})();
