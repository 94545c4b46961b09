// The Cameras section: each camera of the site with its mode, source (a stream as
// scheme://host[:port]/… only: the API never sends credentials), signage attestation and health
// from its worker's heartbeats in the store (online/offline in words, frames per second, drops,
// reconnects, restarts, last frame, last error), refreshed every few seconds while the section is
// shown. Owners and admins (cameras:write) add, change and remove cameras; the API applies the
// same rules as the command line and its refusals are shown in its words. Staff and auditors see
// the status only.
//
// Hook for other tools on a camera (the setup preview and counting line): call
// `registerCameraTool((camera, slot, context) => { ... })`; for every camera card built, the
// function gets the camera as the API lists it, the card's empty tool slot (an element with
// class "camera-tools" and data-camera-id) to put its buttons in, and
// `{site, may, refresh}`. A card is rebuilt when the camera's settings change (and the tool is
// called again), not at each health refresh.

import { api, path } from "./api.js";
import { $, announce, badge, clear, confirmDialog, el, facts, formatDateTime, hideStatus, showStatus } from "./ui.js";

const REFRESH_MS = 5000;
const MODE_TEXT = {
  count: "count (anonymous footfall; no face data)",
  verify: "verify (1:1, after a member's claim)",
  lane: "lane (1:N on an opt-in lane)",
  door: "door (1:N at the entrance; staff confirm)",
};
const STATE_BADGE = { online: ["yes", "Online"], offline: ["no", "Offline"], "never seen": ["none", "Never seen"] };

const view = {
  site: null,
  may: () => false,
  request: 0,
  timer: null,
  cards: new Map(), // camera id -> {key, card, health}
  profile: null, // the site's profile (allowed modes), for the forms
  failed: false, // the last refresh failed: its message is showing
};
const tools = [];

/** Add a per-camera tool (see the header comment). */
export function registerCameraTool(tool) {
  tools.push(tool);
  for (const { card, camera } of view.cards.values()) runTool(tool, camera, card);
}

/** Show the cameras of `site`; `may(permission)` says what the caller may do. */
export async function loadCameras(site, may) {
  view.site = site;
  view.may = may;
  view.cards.clear();
  view.profile = null;
  clear($("#camera-list"));
  hideStatus($("#cameras-status"));
  const adding = $("#camera-add");
  clear(adding);
  adding.hidden = !may("cameras:write");
  try {
    view.profile = (await api(path`/sites/${site}`)).profile;
  } catch (_) {
    view.profile = null; // the forms then offer every mode; the API still decides
  }
  if (site !== view.site) return;
  if (may("cameras:write")) adding.append(addForm());
  await refresh();
  if (view.timer === null) view.timer = window.setInterval(tick, REFRESH_MS);
}

function tick() {
  const panel = $("#panel-cameras");
  if (!panel || panel.hidden || document.hidden || !view.site) return;
  refresh();
}

async function refresh() {
  const request = ++view.request;
  const site = view.site;
  let cameras;
  try {
    cameras = await api(path`/sites/${site}/cameras`);
  } catch (error) {
    if (error.status !== 401 && request === view.request) {
      view.failed = true;
      showStatus($("#cameras-status"), "error", `Cannot load the cameras: ${error.message}`);
    }
    return;
  }
  if (request !== view.request || site !== view.site) return;
  if (view.failed) hideStatus($("#cameras-status"));
  view.failed = false;
  render(cameras);
  $("#cameras-updated").textContent = `Health as of ${formatDateTime(new Date().toISOString())}; refreshed every ${REFRESH_MS / 1000} s.`;
}

function render(cameras) {
  const list = $("#camera-list");
  $("#cameras-empty").hidden = cameras.length > 0;
  const seen = new Set();
  cameras.forEach((camera, i) => {
    seen.add(camera.id);
    const key = JSON.stringify([camera.name, camera.mode, camera.source, camera.signage_attested, camera.line, camera.detect_scale]);
    let entry = view.cards.get(camera.id);
    if (!entry || entry.key !== key) {
      const built = buildCard(camera);
      if (entry) entry.card.replaceWith(built.card);
      entry = { key, camera, ...built };
      view.cards.set(camera.id, entry);
      for (const tool of tools) runTool(tool, camera, entry.card);
    }
    entry.camera = camera;
    if (list.children[i] !== entry.card) list.insertBefore(entry.card, list.children[i] || null);
    showHealth(entry.health, camera.health);
  });
  for (const [id, entry] of view.cards) {
    if (!seen.has(id)) {
      entry.card.remove();
      view.cards.delete(id);
    }
  }
}

function runTool(tool, camera, card) {
  const slot = card.querySelector(".camera-tools");
  try {
    tool(camera, slot, { site: view.site, may: view.may, refresh });
  } catch (error) {
    slot.append(el("p", { class: "hint" }, `A camera tool failed: ${error.message}`));
  }
}

function buildCard(camera) {
  const headingId = `camera-${camera.id}-name`;
  const health = el("div", { class: "camera-health" });
  const line = camera.line ? camera.line.map((v) => v.toFixed(2)).join(", ") : "site default";
  const actions = el("div", { class: "actions" });
  const editArea = el("div", { class: "camera-edit" });
  if (view.may("cameras:write")) {
    const edit = el(
      "button",
      { type: "button", class: "secondary", "aria-expanded": "false" },
      "Edit",
      el("span", { class: "visually-hidden" }, ` camera ${camera.name}`),
    );
    edit.addEventListener("click", () => toggleEdit(camera, edit, editArea));
    actions.append(
      edit,
      el(
        "button",
        { type: "button", class: "danger", onclick: () => removeCamera(camera) },
        "Remove",
        el("span", { class: "visually-hidden" }, ` camera ${camera.name}`),
      ),
    );
  }
  const card = el(
    "li",
    { class: "camera-card", "aria-labelledby": headingId, dataset: { cameraId: camera.id } },
    el("h3", { id: headingId }, camera.name),
    facts([
      ["Mode", MODE_TEXT[camera.mode] || camera.mode],
      ["Source", el("code", {}, camera.source)],
      ["Signs attested", camera.signage_attested ? badge("yes", "Yes") : badge("no", "No")],
      ["Counting line", line],
    ]),
    health,
    el("div", { class: "camera-tools", dataset: { cameraId: camera.id } }),
    actions,
    editArea,
  );
  return { card, health };
}

function showHealth(node, h) {
  clear(node);
  if (!h) return;
  const [kind, text] = STATE_BADGE[h.state] || ["none", h.state];
  const number = (v, digits = 0) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
  node.append(
    el("p", { class: "camera-state" }, badge(kind, text), " ", h.reason),
    facts([
      ["Frames per second", number(h.fps, 1)],
      ["Frames dropped", number(h.dropped)],
      ["Reconnects", number(h.reconnects)],
      ["Worker restarts", number(h.restarts)],
      ["Last frame", formatDateTime(h.last_frame_at)],
      ["Last error", h.last_error ? `${h.last_error} (${formatDateTime(h.error_at)})` : "none"],
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// Forms

let formCount = 0;

function modes() {
  return view.profile ? view.profile.allowed_modes : Object.keys(MODE_TEXT);
}

/** Labelled fields for a camera; `camera` fills them for an edit. */
function fields(camera) {
  const n = ++formCount;
  const id = (name) => `camera-form-${n}-${name}`;
  const input = (name, label, attrs, hint) =>
    el(
      "div",
      { class: "field" },
      el("label", { for: id(name) }, label),
      el("input", { id: id(name), name, ...attrs, "aria-describedby": hint ? id(`${name}-hint`) : null }),
      hint ? el("p", { class: "hint", id: id(`${name}-hint`) }, hint) : null,
    );
  const mode = el("select", { id: id("mode"), name: "mode" }, modes().map((m) => el("option", { value: m }, MODE_TEXT[m] || m)));
  if (camera) {
    if (!modes().includes(camera.mode)) mode.append(el("option", { value: camera.mode }, camera.mode));
    mode.value = camera.mode;
  }
  const attested = el("input", { type: "checkbox", id: id("signs"), name: "signage_attested", checked: camera ? camera.signage_attested : false });
  return [
    camera ? null : input("name", "Camera name", { type: "text", required: true, maxlength: 200, autocomplete: "off" }),
    input(
      "source",
      camera ? "New source (leave empty to keep it)" : "Source",
      { type: "text", required: !camera, maxlength: 2000, autocomplete: "off", spellcheck: "false" },
      "rtsp:// or http(s):// stream on the camera network, or a webcam (/dev/video0). Shown afterwards without user name or password.",
    ),
    el("div", { class: "field" }, el("label", { for: id("mode") }, "Mode"), mode),
    el(
      "div",
      { class: "field checkbox" },
      attested,
      el("label", { for: id("signs") }, "The signs required by the site's profile are up (needed for verify, lane and door)"),
    ),
    input(
      "line",
      "Counting line (optional)",
      { type: "text", value: camera && camera.line ? camera.line.join(",") : "", autocomplete: "off", inputmode: "decimal" },
      "x1,y1,x2,y2 as fractions of the frame from 0 to 1, e.g. 0,0.6,1,0.6; empty: the site default.",
    ),
  ];
}

/** The body of a form, or an error in words when a field cannot be read. */
function readForm(form, camera) {
  const data = new FormData(form);
  const body = {};
  const text = (name) => String(data.get(name) ?? "").trim();
  if (!camera) body.name = text("name");
  if (text("source") || !camera) body.source = text("source");
  const mode = text("mode");
  if (!camera || mode !== camera.mode) body.mode = mode;
  const attested = data.get("signage_attested") !== null;
  if (!camera || attested !== camera.signage_attested) body.signage_attested = attested;
  const lineText = text("line");
  if (lineText) {
    const values = lineText.split(",").map((v) => Number(v.trim()));
    if (values.length !== 4 || values.some((v) => !Number.isFinite(v) || v < 0 || v > 1)) {
      return { error: "The counting line needs four numbers from 0 to 1, separated by commas (x1,y1,x2,y2)." };
    }
    if (!camera || JSON.stringify(values) !== JSON.stringify(camera.line)) body.line = values;
  } else if (camera && camera.line) {
    body.line = null; // emptied: back to the site default
  }
  return { body };
}

function addForm() {
  const status = el("div", { hidden: true });
  const form = el(
    "form",
    { id: "camera-add-form", "aria-labelledby": "camera-add-title" },
    el("h3", { id: "camera-add-title" }, "Add a camera"),
    fields(null),
    el("button", { type: "submit" }, "Add camera"),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { body, error } = readForm(form, null);
    if (error) {
      showStatus(status, "error", error);
      return;
    }
    try {
      const camera = await api(path`/sites/${view.site}/cameras`, { method: "POST", json: body });
      form.reset();
      showStatus(status, "ok", `Camera ${camera.name} added. It shows online once its worker runs (consentcam run).`);
      announce(`Camera ${camera.name} added`);
      await refresh();
    } catch (err) {
      if (err.status !== 401) showStatus(status, "error", `Not added: ${err.message}`);
    }
  });
  return form;
}

function toggleEdit(camera, button, area) {
  if (area.childElementCount) {
    clear(area);
    button.setAttribute("aria-expanded", "false");
    button.focus();
    return;
  }
  button.setAttribute("aria-expanded", "true");
  const status = el("div", { hidden: true });
  const cancel = el("button", { type: "button", class: "secondary" }, "Cancel");
  const form = el(
    "form",
    { class: "camera-edit-form", "aria-label": `Edit camera ${camera.name}` },
    fields(camera),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Save changes"), cancel),
    status,
  );
  cancel.addEventListener("click", () => toggleEdit(camera, button, area));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { body, error } = readForm(form, camera);
    if (error) {
      showStatus(status, "error", error);
      return;
    }
    if (!Object.keys(body).length) {
      showStatus(status, "info", "Nothing changed.");
      return;
    }
    try {
      await api(path`/sites/${view.site}/cameras/${camera.id}`, { method: "PATCH", json: body });
      announce(`Camera ${camera.name} saved`);
      await refresh(); // the card is rebuilt with the new settings
      const card = view.cards.get(camera.id)?.card;
      if (card) card.querySelector("h3").setAttribute("tabindex", "-1");
      card?.querySelector("h3").focus();
    } catch (err) {
      if (err.status !== 401) showStatus(status, "error", `Not saved: ${err.message}`);
    }
  });
  area.append(form);
  form.querySelector("input, select").focus();
}

async function removeCamera(camera) {
  const yes = await confirmDialog({
    title: `Remove camera ${camera.name}?`,
    body: [
      "Its hourly footfall counts and its health are removed with it; its alerts stay in the site's history without the camera.",
      "A worker still running for it stops at its next start. The removal is recorded in the audit log.",
    ],
    confirmLabel: "Remove camera",
  });
  if (!yes) return;
  try {
    await api(path`/sites/${view.site}/cameras/${camera.id}`, { method: "DELETE" });
    announce(`Camera ${camera.name} removed`);
    showStatus($("#cameras-status"), "ok", `Camera ${camera.name} removed.`);
    await refresh();
    $("#panel-cameras").focus();
  } catch (err) {
    if (err.status !== 401) showStatus($("#cameras-status"), "error", `Not removed: ${err.message}`);
  }
}
