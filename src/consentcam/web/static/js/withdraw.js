// Withdrawal at the kiosk, as easy as enrolment: member number (typed, or read by a QR scanner
// that types it, or by the camera where the browser can decode QR codes) -> confirm -> receipt.

import { api, me, path } from "./api.js";
import { $, announce, clear, el, formatDateTime, hideStatus, showStatus } from "./ui.js";
import { startCamera, stopCamera } from "./kiosk-media.js";

const RESET_MS = 90 * 1000;
const site = new URLSearchParams(location.search).get("site");
const state = { memberId: null, stream: null, scanning: false, timer: null };

async function start() {
  // Listeners first: a member who presses Continue while the account check is still under way
  // must not submit the form as a plain page load (and lose what they typed).
  $("#identify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    identify($("#member-id").value);
  });
  $("#scan-start").addEventListener("click", scan);
  $("#scan-stop").addEventListener("click", stopScan);
  $("#confirm-back").addEventListener("click", () => showStep("identify"));
  $("#confirm-yes").addEventListener("click", withdraw);
  $("#receipt-print").addEventListener("click", () => window.print());
  $("#receipt-finish").addEventListener("click", reset);
  for (const type of ["pointerdown", "keydown", "input"]) document.addEventListener(type, touch, { passive: true });
  let who;
  try {
    who = await me();
  } catch (error) {
    if (error.status !== 401) showStatus($("#withdraw-status"), "error", `This page cannot start: ${error.message}`);
    return;
  }
  $("#operator").textContent = `Kiosk account: ${who.user} (${who.role})`;
  if (site) $("#enrol-link").setAttribute("href", `/kiosk?site=${encodeURIComponent(site)}`);
  if (!who.permissions.includes("withdraw")) {
    showStatus($("#withdraw-status"), "warn", `This account (role ${who.role}) cannot record withdrawals; ask staff.`);
  }
  const preset = new URLSearchParams(location.search).get("member");
  if (preset) $("#member-id").value = preset;
  if ("BarcodeDetector" in window && navigator.mediaDevices) $("#scan-start").hidden = false;
  $("#member-id").focus();
}

function showStep(step) {
  for (const name of ["identify", "confirm", "receipt"]) {
    $(`#step-${name}`).hidden = name !== step;
    const label = $(`#step-label-${name}`);
    if (name === step) label.setAttribute("aria-current", "step");
    else label.removeAttribute("aria-current");
  }
  $(`#${step}-heading`).focus();
  touch();
}

function touch() {
  if (state.timer) window.clearTimeout(state.timer);
  state.timer = window.setTimeout(reset, RESET_MS);
}

function reset() {
  stopScan();
  state.memberId = null;
  $("#member-id").value = "";
  $("#member-id").removeAttribute("aria-invalid");
  clear($("#receipt"));
  hideStatus($("#withdraw-status"));
  showStep("identify");
  $("#member-id").focus();
}

/** A member id from what was typed or scanned: the id itself, or a URL or text carrying it. */
export function memberIdFrom(text) {
  const value = String(text || "").trim();
  if (!value) return "";
  try {
    const url = new URL(value);
    const fromQuery = url.searchParams.get("member") || url.searchParams.get("member_id");
    if (fromQuery) return fromQuery.trim();
    const last = url.pathname.split("/").filter(Boolean).pop();
    if (last) return decodeURIComponent(last);
  } catch (_) {
    // Not a URL: the id itself.
  }
  return value;
}

function identify(text) {
  hideStatus($("#withdraw-status"));
  const id = memberIdFrom(text);
  if (!id) {
    $("#member-id").setAttribute("aria-invalid", "true");
    showStatus($("#withdraw-status"), "error", "Enter or scan your member number.");
    $("#member-id").focus();
    return;
  }
  $("#member-id").removeAttribute("aria-invalid");
  stopScan();
  state.memberId = id;
  $("#confirm-member-id").textContent = id;
  showStep("confirm");
}

async function withdraw() {
  const button = $("#confirm-yes");
  button.disabled = true;
  try {
    const receipt = await api(path`/members/${state.memberId}/withdraw`, { method: "POST" });
    const list = clear($("#receipt"));
    const rows = [
      ["Receipt number", receipt.receipt_id],
      ["Member number", receipt.member_id],
      ["Consents withdrawn", String(receipt.withdrawn_consents)],
      ["Face templates deleted", String(receipt.deleted_templates)],
      ["When", formatDateTime(receipt.deleted_at)],
      ["Recorded by", receipt.by],
      ["Audit entry", String(receipt.audit_entry)],
      ["What is kept", receipt.kept],
    ];
    for (const [term, value] of rows) list.append(el("dt", {}, term), el("dd", {}, value));
    showStep("receipt");
    announce("Your consent is withdrawn and your face data deleted.");
  } catch (error) {
    if (error.status === 401) return;
    const message =
      error.status === 404
        ? "No member with this number is known here. Check the number, or ask staff."
        : `The withdrawal could not be recorded: ${error.message}. Please ask staff.`;
    showStep("identify");
    showStatus($("#withdraw-status"), "error", message);
    $("#member-id").value = state.memberId;
    $("#member-id").focus();
  } finally {
    button.disabled = false;
  }
}

// QR scanning with the camera, where the browser has a QR decoder (BarcodeDetector). A USB or
// Bluetooth scanner needs none of this: it types the code into the field and presses Enter.
async function scan() {
  const box = $("#scan-box");
  box.hidden = false;
  $("#scan-message").textContent = "Hold the QR code in front of the camera.";
  try {
    state.stream = await startCamera($("#scan-video"), "environment");
  } catch (error) {
    $("#scan-message").textContent = `${error.message} Type your member number instead.`;
    return;
  }
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  state.scanning = true;
  const tick = async () => {
    if (!state.scanning) return;
    try {
      const codes = await detector.detect($("#scan-video"));
      if (codes.length) {
        $("#member-id").value = memberIdFrom(codes[0].rawValue);
        identify(codes[0].rawValue);
        return;
      }
    } catch (_) {
      // The frame was not ready; try the next one.
    }
    window.setTimeout(tick, 250);
  };
  tick();
}

function stopScan() {
  state.scanning = false;
  stopCamera(state.stream, $("#scan-video"));
  state.stream = null;
  $("#scan-box").hidden = true;
}

start();
