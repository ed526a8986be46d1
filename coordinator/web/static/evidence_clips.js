// An incident's evidence clips (issue 23): per alert with evidence, "Request clip" asks the
// alert's node for a few seconds of redacted frames (POST /alerts/{id}/clip with the session's
// CSRF token; the coordinator logs the request before it sends it). The request's state is
// followed (GET /alerts/{id}/clip) until the node's frames are in, it refused, or the request is
// over (unsent, unanswered, incomplete: the page says why and offers to ask again); then the frames
// play as a flip-book of JPEGs (browsers do not play what OpenCV writes at the sites): play and
// pause, a frame back or forward, a slider, each frame's time in the city's time zone, the
// event's frame marked. Buttons and the slider are keyboard operable; in the player the left
// and right arrow keys step and "k" plays or pauses. Nothing inline: the page's CSP holds.
"use strict";

(() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const WAITING = new Set(["requested", "sent"]);

  function stamp(iso, zone) {
    const moment = new Date(iso);
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
      minute: "2-digit", second: "2-digit", hourCycle: "h23",
    }).formatToParts(moment).map((p) => [p.type, p.value]));
    const millis = String(moment.getUTCMilliseconds()).padStart(3, "0");
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}.${millis}`;
  }

  function describe(clip) {
    const got = clip.received.length;
    switch (clip.state) {
      case "requested": return "Clip requested and logged; sending the request to the camera site.";
      case "sent": return "Clip request sent to the camera site; waiting for its frames.";
      case "received":
        return got < clip.frames ? `${got} of ${clip.frames} frames received; more are coming.`
          : `All ${clip.frames} frames received, each signed by the site's node.`;
      case "refused": return `The camera site refused the clip (${clip.reason}): ${clip.detail}`;
      case "failed": return `The request could not be sent (${clip.reason}). You may request it again.`;
      case "purged": return "The clip's frames were deleted: it was kept as long as the site keeps it.";
      case "unsent": return "The request was never sent to the camera site: the coordinator could not send it in time (its worker or message broker is down). You may request the clip again.";
      case "unanswered": return "The camera site did not answer in time. You may request the clip again.";
      case "incomplete":
        return `Only ${got} of ${clip.frames} frames came in time; no more are expected. You may request the clip again.`;
      default: return `Clip ${clip.state}.`;
    }
  }

  function element(tag, attributes, text) {
    const made = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) made.setAttribute(name, value);
    if (text) made.textContent = text;
    return made;
  }

  function player(section, clip) {
    const alert = section.dataset.alert;
    const zone = section.dataset.zone;
    const frames = clip.received;
    const base = `/alerts/${alert}/clips/${clip.request_id}`;
    const old = section.querySelector(".player");
    if (old && old.dataset.count === String(frames.length)) return;
    // frames arrive one by one: until the operator moves the player, it opens on the event's
    // frame (once that is in); after, a rebuild keeps where they are
    const moved = Boolean(old && old.dataset.moved);
    const kept = moved ? Number(old.querySelector("input").value) : Math.max(0, frames.findIndex((f) => f.event_frame));
    const box = element("div", { class: "player", role: "group", "aria-label": `Clip of alert ${alert}`, "data-count": String(frames.length) });
    if (moved) box.dataset.moved = "true";
    const picture = element("img", { id: `clip-frame-${alert}`, width: frames[0].width, height: frames[0].height });
    const caption = element("p", { class: "frame-caption", id: `clip-caption-${alert}` });
    const controls = element("div", { class: "controls" });
    const back = element("button", { type: "button", id: `clip-back-${alert}`, "aria-label": `Previous frame of the clip of alert ${alert}` }, "Previous frame");
    const play = element("button", { type: "button", id: `clip-play-${alert}`, "aria-pressed": "false", "aria-label": `Play the clip of alert ${alert}` }, "Play");
    const next = element("button", { type: "button", id: `clip-next-${alert}`, "aria-label": `Next frame of the clip of alert ${alert}` }, "Next frame");
    const slider = element("input", { type: "range", min: "0", max: String(frames.length - 1), step: "1", id: `clip-slider-${alert}`, "aria-label": `Frame of the clip of alert ${alert}` });
    controls.append(back, play, next, slider);
    box.append(picture, caption, controls);
    let timer = null;
    // the first frame alone (the operator's look at the clip is logged on it), then the rest
    const preload = frames.map(() => new Image());
    const load = (at) => { if (!preload[at].src) preload[at].src = `${base}/${frames[at].index}.jpg`; };
    const first = Math.max(0, Math.min(kept, frames.length - 1));
    preload[first].addEventListener("load", () => frames.forEach((_, at) => load(at)), { once: true });
    preload[first].addEventListener("error", () => frames.forEach((_, at) => load(at)), { once: true });

    function show(position) {
      const at = (position + frames.length) % frames.length;
      const frame = frames[at];
      slider.value = String(at);
      load(at);
      picture.src = preload[at].src;
      const when = stamp(frame.time, zone);
      const mark = frame.event_frame ? ", the event's frame (object boxed)" : "";
      picture.alt = `Redacted frame ${at + 1} of ${frames.length} of alert ${alert}, ${when} (${zone})${mark}`;
      picture.classList.toggle("event-frame", frame.event_frame);
      caption.textContent = `Frame ${at + 1} of ${frames.length}, ${when} (${zone})`;
      if (frame.event_frame) caption.append(" ", element("strong", { class: "event-mark" }, "event frame"));
      if (!frame.intact) caption.append(" ", element("strong", { class: "bad" }, "signature or picture does not check"));
      slider.setAttribute("aria-valuetext", caption.textContent);
    }
    const current = () => Number(slider.value);
    function pause() {  // every control the operator uses pauses first
      box.dataset.moved = "true";
      clearTimeout(timer);
      timer = null;
      play.textContent = "Play";
      play.setAttribute("aria-pressed", "false");
      play.setAttribute("aria-label", `Play the clip of alert ${alert}`);
    }
    function tick() {
      const at = current();
      const following = (at + 1) % frames.length;
      const gap = Date.parse(frames[following].time) - Date.parse(frames[at].time);
      timer = setTimeout(() => { show(following); tick(); }, Math.min(1000, Math.max(50, gap || 200)));
    }
    function toggle() {
      box.dataset.moved = "true";
      if (timer) { pause(); return; }
      play.textContent = "Pause";
      play.setAttribute("aria-pressed", "true");
      play.setAttribute("aria-label", `Pause the clip of alert ${alert}`);
      tick();
    }
    back.addEventListener("click", () => { pause(); show(current() - 1); });
    next.addEventListener("click", () => { pause(); show(current() + 1); });
    play.addEventListener("click", toggle);
    slider.addEventListener("input", () => { pause(); show(current()); });
    box.addEventListener("keydown", (event) => {
      if (event.target === slider) return;  // the slider's own arrow keys move it
      if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        event.preventDefault();
        pause();
        show(current() + (event.key === "ArrowLeft" ? -1 : 1));
      } else if (event.key === "k") {
        event.preventDefault();
        toggle();
      }
    });
    if (old) old.replaceWith(box); else section.append(box);
    show(first);
  }

  function render(section, clip) {
    section.querySelector(".clip-state").textContent = describe(clip);
    const button = section.querySelector(".request-clip");
    button.disabled = WAITING.has(clip.state) || clip.state === "received";
    if (clip.received.length) player(section, clip);
  }

  async function follow(section, wait) {
    const response = await fetch(`/alerts/${section.dataset.alert}/clip`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) return;
    const clip = await response.json();
    render(section, clip);
    const more = WAITING.has(clip.state) || (clip.state === "received" && clip.received.length < clip.frames);
    if (more) setTimeout(() => follow(section, Math.min(5000, wait * 1.5)), wait);
  }

  async function request(section) {
    const button = section.querySelector(".request-clip");
    button.disabled = true;
    const response = await fetch(`/alerts/${section.dataset.alert}/clip`, {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf() },
    });
    const body = await response.json();
    if (!response.ok) {
      section.querySelector(".clip-state").textContent = body.detail || "The clip could not be requested.";
      button.disabled = false;
      return;
    }
    render(section, body);
    setTimeout(() => follow(section, 500), 500);
  }

  for (const section of document.querySelectorAll("section.clip")) {
    section.querySelector(".request-clip").addEventListener("click", () => request(section));
    if (section.dataset.requested === "yes") follow(section, 1000);
  }
})();
