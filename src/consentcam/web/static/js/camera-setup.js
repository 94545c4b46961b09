// Setting a camera up (owners and admins): one current picture from the camera, with every face
// blurred by the server before it is sent, and the footfall counting line drawn on it by
// dragging its two ends (or with the arrow keys, or typed in as percentages), then saved.
//
// The view lives at /dashboard?site=S#camera-setup/<camera name>. The Cameras list opens it with
// openCameraSetup(site, camera) or links to cameraSetupHref(camera). The picture is held only as
// an object URL while the view is open and released when it closes: it is never stored.

import { API, api, loginUrl, me, path } from "./api.js";
import { registerCameraTool } from "./cameras.js";
import { $, announce, clear, el, facts, hideStatus, showStatus, svg } from "./ui.js";

const HASH = "#camera-setup/";
// The pipeline's default line (PipelineSettings.footfall_line): across the middle, left to right,
// so walking down the picture (towards a camera above a door) is an entry.
const DEFAULT_LINE = [0, 0.5, 1, 0.5];
const STEP = 0.01; // an arrow key moves a point by 1 % of the picture; with Shift, 5 %
const BIG_STEP = 0.05;
const HANDLE_PX = 14; // a handle's radius on screen, whatever the picture's size
const NO_PICTURE = [1600, 900]; // the drawing area's shape while there is no picture

const view = {
  site: null,
  camera: null,
  open: false,
  request: 0,
  url: null, // the picture's object URL, revoked when the view closes
  size: NO_PICTURE,
  line: [...DEFAULT_LINE],
  saved: null,
  parts: null,
  resize: null,
};

/** The link that opens the set-up view of `camera` (at the page's current site). */
export function cameraSetupHref(camera) {
  return `${HASH}${encodeURIComponent(camera)}`;
}

/** Open the set-up view of `camera` at `site` (the Cameras list's "Set up" button calls it). */
export function openCameraSetup(site, camera) {
  if (site && new URLSearchParams(location.search).get("site") !== site) {
    const url = new URL(location.href);
    url.searchParams.set("site", site);
    url.hash = cameraSetupHref(camera);
    location.assign(url);
    return;
  }
  if (location.hash === cameraSetupHref(camera)) show(site || currentSite(), camera);
  else location.hash = cameraSetupHref(camera); // the hashchange listener shows it
}

/** Show the view if the address asks for it (#camera-setup/<camera>); true when it did. */
export function openCameraSetupFromHash(site) {
  const camera = hashCamera();
  if (camera === null) return false;
  show(site, camera);
  return true;
}

/** Close the view and let go of the picture (the dashboard calls it when a tab is chosen). */
export function closeCameraSetup() {
  if (!view.open) return;
  view.open = false;
  view.request += 1; // a picture still on its way is dropped when it arrives
  $("#panel-camera-setup").hidden = true;
  releasePicture();
  if (view.resize) view.resize.disconnect();
  view.resize = null;
  clear($("#camera-setup-body"));
}

window.addEventListener("hashchange", () => {
  const camera = hashCamera();
  if (camera !== null) {
    show(currentSite(), camera);
    return;
  }
  if (!view.open) return;
  // Left by the browser's back button (or a link to a section): show that section's tab.
  const tabs = [...document.querySelectorAll('[role="tab"]')].filter((t) => !t.hidden);
  const target = tabs.find((t) => `#${t.dataset.section}` === location.hash) || tabs[0];
  closeCameraSetup();
  if (target) target.click();
});

function hashCamera() {
  if (!location.hash.startsWith(HASH)) return null;
  try {
    const camera = decodeURIComponent(location.hash.slice(HASH.length));
    return camera || null;
  } catch (_) {
    return null;
  }
}

function currentSite() {
  return new URLSearchParams(location.search).get("site");
}

// ---------------------------------------------------------------------------------------------
// The view

async function show(site, camera) {
  closeCameraSetup();
  view.site = site;
  view.camera = camera;
  view.open = true;
  const request = ++view.request;
  // The set-up view replaces the section on screen; the tabs stay, so any of them leads back.
  for (const panel of document.querySelectorAll('[role="tabpanel"]')) panel.hidden = true;
  for (const tab of document.querySelectorAll('[role="tab"]')) tab.setAttribute("aria-selected", "false");
  const panel = $("#panel-camera-setup");
  panel.hidden = false;
  $("#camera-setup-title").textContent = `Set up camera ${camera}`;
  const status = $("#camera-setup-status");
  hideStatus(status);
  panel.focus();

  let cameras;
  try {
    // Only owners and admins set cameras up (the API refuses the rest anyway): nobody else is
    // shown a form they cannot use, nor asks the camera for a picture.
    const who = await me();
    if (request !== view.request) return;
    if (!who.permissions.includes("cameras:write")) {
      showStatus(status, "info", `Setting a camera up needs an owner or an administrator; you are logged in as ${who.role}.`);
      $("#camera-setup-body").append(backButton());
      return;
    }
    cameras = await api(path`/sites/${site}/cameras`);
  } catch (error) {
    if (error.status !== 401 && request === view.request) showStatus(status, "error", `Cannot load the cameras of ${site}: ${error.message}`);
    return;
  }
  if (request !== view.request) return;
  const row = cameras.find((c) => c.name === camera);
  if (!row) {
    showStatus(status, "error", `There is no camera named ${camera} at ${site}.`);
    $("#camera-setup-body").append(backButton());
    return;
  }
  view.saved = row.line ? [...row.line] : null;
  view.line = row.line ? [...row.line] : [...DEFAULT_LINE];
  build(row);
  loadPicture(request);
}

function build(row) {
  const body = clear($("#camera-setup-body"));
  const image = el("img", { class: "setup-image", alt: `Current view of camera ${row.name}, every face blurred`, hidden: true });
  const drawing = svg("svg", { class: "setup-drawing", role: "group", "aria-label": "Counting line on the picture" });
  const frame = el("div", { class: "setup-frame" }, image, drawing);
  const pictureState = el("p", { class: "hint", id: "camera-setup-picture-state", "aria-live": "polite" });
  const pictureStatus = el("div", { id: "camera-setup-picture-status", hidden: true });
  const inputs = {
    x1: numberInput("camera-setup-x1", "Start: across (%)"),
    y1: numberInput("camera-setup-y1", "Start: down (%)"),
    x2: numberInput("camera-setup-x2", "End: across (%)"),
    y2: numberInput("camera-setup-y2", "End: down (%)"),
  };
  const lineState = el("p", { id: "camera-setup-line-state" });
  const save = el("button", { type: "submit" }, "Save line");
  const form = el(
    "form",
    { id: "camera-setup-form", novalidate: true },
    el(
      "fieldset",
      {},
      el("legend", {}, "Counting line, in percent of the picture from its top left corner"),
      el("div", { class: "row" }, ...Object.values(inputs).map((i) => i.field)),
    ),
    el(
      "div",
      { class: "row" },
      save,
      el("button", { type: "button", class: "secondary", onclick: swap }, "Swap direction"),
      el("button", { type: "button", class: "secondary", onclick: () => setLine([...(view.saved || DEFAULT_LINE)], true) }, view.saved ? "Undo changes" : "Back to the default line"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveLine(save);
  });
  for (const input of Object.values(inputs)) input.input.addEventListener("input", fromInputs);

  body.append(
    el(
      "p",
      { class: "hint" },
      "Every face the server finds is blurred before the picture leaves it; take it when few people are about, since a face turned away may not be found. The picture is not stored anywhere; each view is recorded in the audit log.",
    ),
    facts([
      ["Mode", row.mode],
      ["Source", el("code", { class: "mono" }, row.source)],
    ]),
    el(
      "div",
      { class: "row" },
      el("button", { type: "button", class: "secondary", id: "camera-setup-refresh", onclick: () => loadPicture(view.request) }, "Take a new picture"),
      backButton(),
    ),
    pictureStatus,
    pictureState,
    el(
      "figure",
      { class: "setup-figure" },
      frame,
      el(
        "figcaption",
        {},
        "Drag the two round handles to place the line (a press on the picture takes the nearer one), or focus one and use the arrow keys (Shift for larger steps). People crossing the line in the direction of the arrow are counted as entering; the other way as leaving.",
      ),
    ),
    lineState,
    form,
  );
  view.parts = { image, drawing, frame, pictureState, pictureStatus, inputs, lineState };
  drawing.addEventListener("pointerdown", startDrag);
  drawLine();
  view.resize = new ResizeObserver(() => drawLine());
  view.resize.observe(frame);
}

function backButton() {
  return el("button", { type: "button", class: "secondary", onclick: back }, "Back to the cameras");
}

function back() {
  const tabs = [...document.querySelectorAll('[role="tab"]')].filter((t) => !t.hidden);
  const target = tabs.find((t) => t.dataset.section === "cameras") || tabs[0];
  closeCameraSetup();
  if (target) target.click();
}

function numberInput(id, label) {
  const input = el("input", { type: "number", id, min: "0", max: "100", step: "0.1", inputmode: "decimal", required: true });
  return { input, field: el("div", { class: "field" }, el("label", { for: id }, label), input) };
}

// ---------------------------------------------------------------------------------------------
// The picture

async function loadPicture(request) {
  const parts = view.parts;
  if (!parts || request !== view.request) return;
  const refresh = $("#camera-setup-refresh");
  refresh.disabled = true;
  parts.frame.setAttribute("aria-busy", "true");
  parts.pictureState.textContent = "Taking a picture from the camera and blurring every face… (a few seconds)";
  let response;
  try {
    response = await fetch(`${API}${path`/cameras/${view.camera}/preview`}?site=${encodeURIComponent(view.site)}`, {
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (_) {
    response = null;
  }
  if (request !== view.request) return;
  refresh.disabled = false;
  parts.frame.removeAttribute("aria-busy");
  if (response && response.status === 401) {
    location.assign(loginUrl(location.pathname + location.search + location.hash));
    return;
  }
  if (!response || !response.ok) {
    const reason = response ? await errorText(response) : "the server cannot be reached";
    parts.pictureState.textContent = "";
    showStatus(parts.pictureStatus, "error", `No picture from camera ${view.camera}: ${reason}. You can still place and save the line.`);
    return;
  }
  const blob = await response.blob();
  if (request !== view.request) return;
  hideStatus(parts.pictureStatus);
  releasePicture();
  view.url = URL.createObjectURL(blob);
  const width = Number(response.headers.get("X-Frame-Width")) || 0;
  const height = Number(response.headers.get("X-Frame-Height")) || 0;
  const blurred = Number(response.headers.get("X-Faces-Blurred")) || 0;
  parts.image.addEventListener(
    "load",
    () => {
      if (request !== view.request) return;
      view.size = [parts.image.naturalWidth, parts.image.naturalHeight];
      parts.image.hidden = false;
      parts.frame.classList.add("has-picture");
      drawLine();
    },
    { once: true },
  );
  parts.image.src = view.url;
  const size = width && height ? `${width} × ${height} pixels` : "";
  const faces = blurred === 1 ? "1 area blurred" : `${blurred} areas blurred`;
  parts.pictureState.textContent = `Picture taken ${new Date().toLocaleTimeString()}${size ? `, ${size}` : ""}; ${faces}.`;
  announce(`Picture from camera ${view.camera} shown, ${faces}.`);
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) {
    // Not JSON: the status line says what it can.
  }
  return `HTTP ${response.status}`;
}

function releasePicture() {
  if (view.url) URL.revokeObjectURL(view.url);
  view.url = null;
  view.size = NO_PICTURE;
}

// ---------------------------------------------------------------------------------------------
// The line

const clamp = (v) => Math.min(1, Math.max(0, v));
const pct = (v) => Math.round(v * 1000) / 10;

function setLine(line, fromUser = false) {
  view.line = line.map(clamp);
  drawLine();
  if (fromUser) describeLine();
}

function swap() {
  const [x1, y1, x2, y2] = view.line;
  setLine([x2, y2, x1, y1], true);
  announce("Direction swapped: what counted as entering now counts as leaving.");
}

function fromInputs() {
  const { inputs } = view.parts;
  const values = ["x1", "y1", "x2", "y2"].map((k) => Number(inputs[k].input.value));
  for (const { input } of Object.values(inputs)) {
    const bad = input.value === "" || !(Number(input.value) >= 0 && Number(input.value) <= 100);
    input.setAttribute("aria-invalid", String(bad));
  }
  if (values.every((v) => Number.isFinite(v) && v >= 0 && v <= 100)) {
    view.line = values.map((v) => v / 100);
    drawLine(false);
  }
}

function drawLine(updateInputs = true) {
  const parts = view.parts;
  if (!parts) return;
  const [width, height] = view.size;
  const drawing = parts.drawing;
  drawing.setAttribute("viewBox", `0 0 ${width} ${height}`);
  // Handles keep their size on screen: the picture is drawn at whatever width the page allows.
  const shown = parts.frame.getBoundingClientRect().width || width;
  const unit = width / shown;
  const radius = HANDLE_PX * unit;
  const [x1, y1, x2, y2] = view.line;
  const a = [x1 * width, y1 * height];
  const b = [x2 * width, y2 * height];
  // The entry side is to the right of the line's direction as displayed (y grows downwards):
  // the normal (-dy, dx) points that way.
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const length = Math.hypot(dx, dy) || 1;
  const n = [-dy / length, dx / length];
  const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  const arrow = 46 * unit;
  const tip = [mid[0] + n[0] * arrow, mid[1] + n[1] * arrow];
  const head = 12 * unit;
  const along = [dx / length, dy / length];
  const headPoints = [
    tip,
    [tip[0] - n[0] * head + along[0] * head * 0.7, tip[1] - n[1] * head + along[1] * head * 0.7],
    [tip[0] - n[0] * head - along[0] * head * 0.7, tip[1] - n[1] * head - along[1] * head * 0.7],
  ];
  const label = [tip[0] + n[0] * 20 * unit, tip[1] + n[1] * 20 * unit];
  clear(drawing).append(
    svg("line", { class: "setup-line-shadow", x1: a[0], y1: a[1], x2: b[0], y2: b[1] }),
    svg("line", { class: "setup-line", id: "camera-setup-line", x1: a[0], y1: a[1], x2: b[0], y2: b[1] }),
    svg("line", { class: "setup-arrow", x1: mid[0], y1: mid[1], x2: tip[0], y2: tip[1] }),
    svg("polygon", { class: "setup-arrow-head", points: headPoints.map((p) => p.join(",")).join(" ") }),
    svg("text", { class: "setup-label", x: label[0], y: label[1], "font-size": 15 * unit, "text-anchor": "middle", "dominant-baseline": "middle" }, "in"),
    handle("start", a, radius),
    handle("end", b, radius),
  );
  if (updateInputs) {
    const { inputs } = parts;
    [inputs.x1.input.value, inputs.y1.input.value, inputs.x2.input.value, inputs.y2.input.value] = view.line.map((v) => String(pct(v)));
    for (const i of Object.values(inputs)) i.input.removeAttribute("aria-invalid");
  }
  describeLine();
}

function handle(which, [cx, cy], radius) {
  const index = which === "start" ? 0 : 2;
  const name = which === "start" ? "Start of the line" : "End of the line";
  const [x, y] = [view.line[index], view.line[index + 1]];
  const group = svg(
    "g",
    {
      class: "setup-handle",
      id: `camera-setup-${which}`,
      tabindex: "0",
      role: "slider",
      "aria-roledescription": "movable point",
      "aria-label": name,
      "aria-valuetext": `${pct(x)} % across, ${pct(y)} % down`,
      "aria-valuenow": String(pct(x)),
      "aria-valuemin": "0",
      "aria-valuemax": "100",
    },
    svg("circle", { class: "setup-handle-hit", cx, cy, r: radius * 2 }),
    svg("circle", { class: "setup-handle-dot", cx, cy, r: radius }),
  );
  group.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? BIG_STEP : STEP;
    const move = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[event.key];
    if (!move) return;
    event.preventDefault();
    const line = [...view.line];
    line[index] = clamp(line[index] + move[0]);
    line[index + 1] = clamp(line[index + 1] + move[1]);
    setLine(line);
    $(`#camera-setup-${which}`).focus(); // the drawing was rebuilt: keep the keyboard here
  });
  return group;
}

// A press anywhere on the picture takes the nearer end of the line there and drags it (a handle
// at the very edge of the picture is as easy to catch as one in the middle).
function startDrag(event) {
  if (event.button !== 0) return;
  event.preventDefault();
  const drawing = view.parts.drawing;
  const [width, height] = view.size;
  const at = (e) => {
    const box = drawing.getBoundingClientRect();
    return [clamp((e.clientX - box.left) / (box.width || 1)), clamp((e.clientY - box.top) / (box.height || 1))];
  };
  const [px, py] = at(event);
  const [x1, y1, x2, y2] = view.line;
  const far = (x, y) => Math.hypot((x - px) * width, (y - py) * height);
  const which = far(x1, y1) <= far(x2, y2) ? "start" : "end";
  const index = which === "start" ? 0 : 2;
  const moveTo = (e) => {
    const [x, y] = at(e);
    view.line[index] = x;
    view.line[index + 1] = y;
    moveHandle(which, view.line);
  };
  const end = () => {
    drawing.removeEventListener("pointermove", moveTo);
    drawing.removeEventListener("pointerup", end);
    drawing.removeEventListener("pointercancel", end);
    drawLine();
    $(`#camera-setup-${which}`).focus();
  };
  drawing.setPointerCapture(event.pointerId);
  moveTo(event);
  drawing.addEventListener("pointermove", moveTo);
  drawing.addEventListener("pointerup", end);
  drawing.addEventListener("pointercancel", end);
}

// While dragging, only the line and the dragged handle move; the arrow and the form follow when
// the drag ends.
function moveHandle(which, line) {
  const [width, height] = view.size;
  const [x, y] = which === "start" ? [line[0], line[1]] : [line[2], line[3]];
  const group = $(`#camera-setup-${which}`);
  for (const circle of group.querySelectorAll("circle")) {
    circle.setAttribute("cx", String(x * width));
    circle.setAttribute("cy", String(y * height));
  }
  for (const drawn of view.parts.drawing.querySelectorAll(".setup-line, .setup-line-shadow")) {
    drawn.setAttribute(which === "start" ? "x1" : "x2", String(x * width));
    drawn.setAttribute(which === "start" ? "y1" : "y2", String(y * height));
  }
}

function describeLine() {
  const parts = view.parts;
  if (!parts) return;
  const [x1, y1, x2, y2] = view.line.map(pct);
  const changed = (view.saved || DEFAULT_LINE).some((v, i) => Math.abs(v - view.line[i]) > 1e-9);
  const where = `from ${x1} % across, ${y1} % down to ${x2} % across, ${y2} % down`;
  let state = "No line saved for this camera; the default runs";
  if (changed) state = "Not saved yet: the line runs";
  else if (view.saved) state = "Saved line: it runs";
  parts.lineState.textContent = `${state} ${where}.`;
}

async function saveLine(button) {
  const status = $("#camera-setup-status");
  const { inputs } = view.parts;
  const bad = Object.values(inputs).filter((i) => i.input.getAttribute("aria-invalid") === "true");
  if (bad.length) {
    showStatus(status, "error", "Each position is a number from 0 to 100.", bad.map((i) => i.field.querySelector("label").textContent));
    bad[0].input.focus();
    return;
  }
  const [x1, y1, x2, y2] = view.line;
  button.disabled = true;
  try {
    const camera = await api(`${path`/cameras/${view.camera}/line`}?site=${encodeURIComponent(view.site)}`, {
      method: "PUT",
      json: { start: { x: x1, y: y1 }, end: { x: x2, y: y2 } },
    });
    view.saved = [...camera.line];
    describeLine();
    showStatus(status, "ok", "Line saved. The camera's worker counts with it from its next start.");
    announce("Line saved.");
  } catch (error) {
    if (error.status !== 401) showStatus(status, "error", `The line was not saved: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// Each camera card in the Cameras list gets a "Set up" link to this view, for those who may
// change cameras (the preview and the line are theirs alone).
registerCameraTool((camera, slot, { site, may }) => {
  if (!may("cameras:write")) return;
  slot.append(
    el(
      "a",
      {
        href: cameraSetupHref(camera.name),
        class: "button secondary",
        onclick: (event) => {
          event.preventDefault();
          openCameraSetup(site, camera.name);
        },
      },
      `Set up ${camera.name}: preview and counting line`,
    ),
  );
});
