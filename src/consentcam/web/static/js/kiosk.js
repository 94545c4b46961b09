// The consent kiosk: the site's notice, an explicit affirmative act (an unticked box the member
// ticks, plus their typed name or a drawn signature), then a photo by webcam or upload through
// the quality gate, and a confirmation that says how to withdraw. The kiosk logs in as a user
// with the kiosk role; the member never needs an account.

import { api, logout, me, path } from "./api.js";
import { $, announce, clear, confirmDialog, el, hideStatus, showStatus } from "./ui.js";
import { startCamera, stopCamera, quality, toBase64 } from "./kiosk-media.js";

const IDLE_RESET_MS = 120 * 1000; // a shared screen forgets the member after two idle minutes
const DONE_RESET_MS = 60 * 1000;
// v3: confirmed visits may refine the template (consent/visits.py), and the member may also
// choose, separately, to be shown to staff in pictures (consent/pictures.py).
const NOTICE_VERSION = "v3";
// A burst: what the member is asked to do before each frame, and the pause to do it.
const BURST_PROMPTS = [
  "Look at the camera",
  "Turn your head slightly to the left",
  "Now slightly to the right",
  "Lift your chin a little",
  "Look at the camera again",
];
const BURST_PAUSE_MS = 600;

const site = new URLSearchParams(location.search).get("site");
const state = {
  notice: null,
  rules: null,
  memberId: null,
  memberName: null,
  photos: [], // [{blob, name}]
  burst: false, // the photos are frames of one camera capture
  portrait: false, // the member ticked the separate box for a portrait shown to staff
  previewUrls: [],
  idleTimer: null,
  stream: null,
};
const signature = { ink: false, drawing: false, last: null };

async function start() {
  let who;
  try {
    who = await me();
  } catch (error) {
    if (error.status !== 401) showStatus($("#kiosk-status"), "error", `The kiosk cannot start: ${error.message}`);
    return;
  }
  $("#operator").textContent = `Kiosk account: ${who.user} (${who.role})${site ? ` · site ${site}` : ""}`;
  $("#operator-logout").addEventListener("click", async () => {
    await logout().catch(() => {});
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  });
  const missing = ["members:write", "consent:write", "enrol"].filter((p) => !who.permissions.includes(p));
  if (missing.length) {
    showStatus($("#kiosk-status"), "warn", `This account (role ${who.role}) cannot enrol members; log in with a kiosk account.`);
  }
  if (!site) {
    await pickSite();
    return;
  }
  $("#withdraw-link").setAttribute("href", `/kiosk/withdraw?site=${encodeURIComponent(site)}`);
  try {
    state.notice = await api(`${path`/sites/${site}/notice`}?version=${NOTICE_VERSION}`);
  } catch (error) {
    if (error.status !== 401) showStatus($("#kiosk-status"), "error", `The notice for site ${site} cannot be shown: ${error.message}`);
    return;
  }
  try {
    state.rules = (await api(path`/sites/${site}`)).profile;
  } catch (_) {
    state.rules = null; // the API still applies the profile's rules when consent is recorded
  }
  wire();
  resetKiosk();
}

async function pickSite() {
  const picker = $("#site-picker");
  picker.hidden = false;
  const list = clear($("#site-list"));
  try {
    const sites = await api("/sites");
    for (const s of sites) {
      list.append(el("li", {}, el("a", { class: "button", href: `/kiosk?site=${encodeURIComponent(s.name)}` }, s.name)));
    }
    if (!sites.length) list.append(el("li", {}, "No sites are set up yet."));
  } catch (error) {
    if (error.status !== 401) showStatus($("#kiosk-status"), "error", error.message);
  }
}

// ---------------------------------------------------------------------------------------------

function wire() {
  $("#notice-text").textContent = state.notice.text;
  $("#notice-version").textContent = state.notice.version;
  $("#notice-hash").textContent = `${state.notice.sha256.slice(0, 16)}…`;
  $("#kiosk-title").textContent = `Member recognition at ${site}`;
  const rules = state.rules;
  if (rules && rules.guardian_under) {
    $("#minor-fieldset").hidden = false;
    $("#is-minor-text").textContent = `I am under ${rules.guardian_under}`;
    $("#is-minor").addEventListener("change", () => {
      $("#guardian-fields").hidden = !$("#is-minor").checked;
    });
  }
  if (rules && rules.written_release) {
    $("#sign-instructions").textContent =
      "The law here asks for a signed written release: draw your signature below and type your full name.";
    $("#signature-label").textContent = "Draw your signature (with a finger or the mouse)";
  }
  wireSignature();
  $("#consent-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitConsent();
  });
  $("#consent-cancel").addEventListener("click", () => resetKiosk());
  $("#camera-start").addEventListener("click", cameraOn);
  $("#camera-stop").addEventListener("click", cameraOff);
  $("#camera-shoot").addEventListener("click", takeBurst);
  $("#photo-file").addEventListener("change", () => {
    const files = [...$("#photo-file").files].slice(0, BURST_PROMPTS.length);
    if (files.length) choosePhotos(files.map((file) => ({ blob: file, name: file.name })), false);
  });
  $("#photo-submit").addEventListener("click", submitPhoto);
  $("#photo-cancel").addEventListener("click", cancelEnrolment);
  $("#done-print").addEventListener("click", () => window.print());
  $("#done-finish").addEventListener("click", () => resetKiosk());
  for (const type of ["pointerdown", "keydown", "input"]) document.addEventListener(type, touchIdle, { passive: true });
}

function showStep(step) {
  for (const name of ["consent", "photo", "done"]) {
    $(`#step-${name}`).hidden = name !== step;
    const label = $(`#step-label-${name}`);
    if (name === step) label.setAttribute("aria-current", "step");
    else label.removeAttribute("aria-current");
  }
  touchIdle();
}

function touchIdle() {
  if (state.idleTimer) window.clearTimeout(state.idleTimer);
  const done = !$("#step-done").hidden;
  state.idleTimer = window.setTimeout(() => resetKiosk(), done ? DONE_RESET_MS : IDLE_RESET_MS);
}

function resetKiosk() {
  cameraOff();
  state.memberId = null;
  state.memberName = null;
  state.portrait = false;
  clearPhoto();
  $("#consent-form").reset();
  $("#guardian-fields").hidden = true;
  for (const input of document.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  clearSignature();
  for (const id of ["#kiosk-status", "#consent-status", "#photo-status"]) hideStatus($(id));
  $("#done-member-id").textContent = "";
  $("#done-views").textContent = "";
  $("#camera-prompt").hidden = true;
  $("#notice-text").scrollTop = 0;
  showStep("consent");
}

// ---------------------------------------------------------------------------------------------
// Signature pad: pointer events cover touch, pen and mouse. Typing the name is the keyboard way.

function wireSignature() {
  const canvas = $("#signature-pad");
  const ctx = canvas.getContext("2d");
  ctx.lineWidth = 4;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#111";
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * canvas.width) / box.width,
      y: ((event.clientY - box.top) * canvas.height) / box.height,
    };
  };
  canvas.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    signature.drawing = true;
    signature.last = point(event);
    ctx.beginPath();
    ctx.arc(signature.last.x, signature.last.y, 1.5, 0, Math.PI * 2);
    ctx.fillStyle = "#111";
    ctx.fill();
    signature.ink = true;
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!signature.drawing) return;
    const p = point(event);
    ctx.beginPath();
    ctx.moveTo(signature.last.x, signature.last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    signature.last = p;
    signature.ink = true;
  });
  const end = () => {
    signature.drawing = false;
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  $("#clear-signature").addEventListener("click", clearSignature);
}

function clearSignature() {
  const canvas = $("#signature-pad");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  signature.ink = false;
}

// ---------------------------------------------------------------------------------------------
// Step 1: the affirmative act, then the member and the consent record

const normalise = (text) => text.trim().replace(/\s+/g, " ").toLocaleLowerCase();

function consentProblems() {
  const problems = [];
  const mark = (selector, bad) => {
    if (bad) $(selector).setAttribute("aria-invalid", "true");
    else $(selector).removeAttribute("aria-invalid");
  };
  const name = $("#full-name").value.trim();
  const typed = $("#typed-signature").value;
  mark("#full-name", !name);
  if (!name) problems.push("Enter your full name.");
  const written = Boolean(state.rules && state.rules.written_release);
  const typedOk = name && normalise(typed) === normalise(name);
  if (written) {
    if (!signature.ink) problems.push("Draw your signature in the box.");
    if (!typedOk) problems.push("Type your full name to sign, exactly as above.");
  } else if (!typedOk && !signature.ink) {
    problems.push(typed.trim() ? "The typed signature must match your full name." : "Sign: type your full name again, or draw your signature.");
  }
  mark("#typed-signature", typed.trim() && !typedOk);
  const minor = !$("#minor-fieldset").hidden && $("#is-minor").checked;
  if (minor) {
    const age = Number($("#age").value);
    const badAge = !$("#age").value || !Number.isInteger(age) || age < 0 || age >= state.rules.guardian_under;
    mark("#age", badAge);
    if (badAge) problems.push(`Enter your age (under ${state.rules.guardian_under}).`);
    const guardian = $("#guardian-name").value.trim();
    mark("#guardian-name", !guardian);
    if (!guardian) problems.push("Enter the full name of your parent or guardian.");
  }
  const ticked = $("#consent-check").checked;
  mark("#consent-check", !ticked);
  if (!ticked) problems.push("Tick the box to say that you consent. Leave it unticked if you do not.");
  return { problems, name, typed: typedOk ? typed.trim() : null, minor };
}

async function submitConsent() {
  const status = $("#consent-status");
  hideStatus(status);
  const { problems, name, typed, minor } = consentProblems();
  if (problems.length) {
    showStatus(status, "error", "Please check the following:", problems);
    status.setAttribute("tabindex", "-1");
    status.focus();
    return;
  }
  const button = $("#consent-submit");
  button.disabled = true;
  try {
    if (!state.memberId || state.memberName !== name) {
      const member = await api("/members", { method: "POST", json: { site, name } });
      state.memberId = member.id;
      state.memberName = name;
    }
    const written = Boolean(state.rules && state.rules.written_release);
    const evidence = {
      statement: $("#consent-statement").textContent,
      checkbox: "ticked by the member",
      full_name: name,
      typed_signature: typed,
      drawn_signature_png: signature.ink ? $("#signature-pad").toDataURL("image/png") : null,
      notice: { site, version: state.notice.version, sha256: state.notice.sha256 },
      age: minor ? Number($("#age").value) : null,
      guardian_name: minor ? $("#guardian-name").value.trim() : null,
      signed_at: new Date().toISOString(),
      channel: written ? "written" : "kiosk",
    };
    const body = {
      purpose: "recognition",
      notice_version: state.notice.version,
      channel: evidence.channel,
    };
    const record = JSON.stringify(evidence);
    // A drawn signature can make the record too large for the text field: send it as a file.
    if (signature.ink) body.evidence = toBase64(record);
    else body.evidence_text = record;
    if (minor) {
      body.age = evidence.age;
      body.guardian_name = evidence.guardian_name;
    }
    await api(path`/members/${state.memberId}/consents`, { method: "POST", json: body });
    // The portrait is its own purpose with its own record: only when its own box is ticked.
    state.portrait = $("#portrait-check").checked;
    if (state.portrait) {
      const portrait = { ...evidence, statement: $("#portrait-statement").textContent, checkbox: "portrait box ticked by the member" };
      const portraitBody = { ...body, purpose: "portrait" };
      delete portraitBody.evidence;
      delete portraitBody.evidence_text;
      const portraitRecord = JSON.stringify(portrait);
      if (signature.ink) portraitBody.evidence = toBase64(portraitRecord);
      else portraitBody.evidence_text = portraitRecord;
      await api(path`/members/${state.memberId}/consents`, { method: "POST", json: portraitBody });
    }
    showStep("photo");
    $("#photo-heading").focus();
    announce("Consent recorded. Next: your photo.");
  } catch (error) {
    if (error.status !== 401) {
      showStatus(status, "error", `Your consent could not be recorded: ${error.message}`);
      status.setAttribute("tabindex", "-1");
      status.focus();
    }
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Step 2: photo by webcam or upload, through the quality gate

async function cameraOn() {
  const message = $("#camera-message");
  message.hidden = true;
  try {
    state.stream = await startCamera($("#camera-video"));
    $("#camera-video").hidden = false;
    $("#camera-controls").hidden = false;
    $("#camera-shoot").focus();
  } catch (error) {
    message.textContent = `${error.message} You can choose a photo file instead.`;
    message.hidden = false;
  }
}

function cameraOff() {
  stopCamera(state.stream, $("#camera-video"));
  state.stream = null;
  $("#camera-video").hidden = true;
  $("#camera-controls").hidden = true;
}

/** Five frames over about three seconds, each after a prompt (left, right, up): several views
 * of the face, taken with the member's knowledge, as the notice says. */
async function takeBurst() {
  const video = $("#camera-video");
  if (!video.videoWidth) return;
  const shoot = $("#camera-shoot");
  const prompt = $("#camera-prompt");
  shoot.disabled = true;
  prompt.hidden = false;
  const frames = [];
  try {
    for (const [i, text] of BURST_PROMPTS.entries()) {
      prompt.textContent = `${text} (${i + 1} of ${BURST_PROMPTS.length})`;
      await new Promise((resolve) => window.setTimeout(resolve, BURST_PAUSE_MS));
      const blob = await frameBlob(video);
      if (blob) frames.push({ blob, name: `camera-${i + 1}.jpg` });
    }
  } finally {
    shoot.disabled = false;
  }
  prompt.textContent = "Done. Check your photos below.";
  if (frames.length) choosePhotos(frames, true);
}

function frameBlob(video) {
  const canvas = el("canvas", { width: video.videoWidth, height: video.videoHeight });
  canvas.getContext("2d").drawImage(video, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
}

function choosePhotos(photos, burst) {
  clearPhoto();
  state.photos = photos;
  state.burst = burst;
  const list = $("#photo-previews");
  photos.forEach((photo, i) => {
    const url = URL.createObjectURL(photo.blob);
    state.previewUrls.push(url);
    list.append(el("li", {}, el("img", { src: url, alt: `Photo ${i + 1} of ${photos.length}` })));
  });
  list.hidden = false;
  const button = $("#photo-submit");
  button.textContent = photos.length === 1 ? "Use this photo" : "Use these photos";
  button.disabled = false;
  hideStatus($("#photo-status"));
  announce(`${photos.length === 1 ? "Photo" : `${photos.length} photos`} ready. Choose '${button.textContent}' to continue, or take them again.`);
}

function clearPhoto() {
  for (const url of state.previewUrls) URL.revokeObjectURL(url);
  state.previewUrls = [];
  state.photos = [];
  state.burst = false;
  const list = $("#photo-previews");
  clear(list);
  list.hidden = true;
  $("#photo-submit").disabled = true;
  $("#photo-file").value = "";
}

async function submitPhoto() {
  if (!state.photos.length) return;
  const status = $("#photo-status");
  const button = $("#photo-submit");
  button.disabled = true;
  showStatus(status, "info", state.photos.length === 1 ? "Checking your photo…" : "Checking your photos…");
  const form = new FormData();
  for (const photo of state.photos) form.append("photos", photo.blob, photo.name);
  const params = new URLSearchParams();
  if (state.burst) params.set("burst", "true");
  if (state.portrait) params.set("portrait", "true");
  const query = params.size ? `?${params}` : "";
  try {
    const result = await api(path`/members/${state.memberId}/enrol` + query, { method: "POST", form });
    cameraOff();
    clearPhoto();
    $("#done-views").textContent =
      result.templates === 1
        ? "One view of your face is stored."
        : `${result.templates} views of your face are stored.`;
    if (result.portrait) $("#done-views").textContent += " Staff may see a small photo of your face to check it is you.";
    $("#done-member-id").textContent = state.memberId;
    showStep("done");
    $("#done-heading").focus();
  } catch (error) {
    if (error.status === 401) return;
    const { message, reasons } = quality(error);
    showStatus(status, "error", message, reasons);
    status.setAttribute("tabindex", "-1");
    status.focus();
    button.disabled = false;
  }
}

async function cancelEnrolment() {
  const ok = await confirmDialog({
    title: "Cancel and withdraw?",
    body: "Your consent is withdrawn and nothing about your face is kept.",
    confirmLabel: "Yes, withdraw",
    cancelLabel: "Go back",
  });
  if (!ok) return;
  try {
    const receipt = await api(path`/members/${state.memberId}/withdraw`, { method: "POST" });
    resetKiosk();
    showStatus($("#kiosk-status"), "ok", `Your consent is withdrawn. Receipt ${receipt.receipt_id}.`);
  } catch (error) {
    if (error.status !== 401) showStatus($("#photo-status"), "error", `Could not withdraw: ${error.message}. Please ask staff.`);
  }
}

start();
