// The "Signs & calibration" section (calibration:read: admins, owners, auditors; staff find the
// sign's links on the Compliance tab): the site's printable sign (PDF and HTML downloads, from
// the signage route) with where it must be displayed, and the threshold the cameras decide at, the false alerts it means per 1,000 non-member visitors, the
// gallery size and the false-alert budget; admins and owners change the budget here (audited,
// refused in words outside the model card's measured range).

import { API, api, path } from "./api.js";
import { $, announce, clear, el, facts, hideStatus, showStatus } from "./ui.js";

const FACE_MODES = new Set(["verify", "lane", "door"]);
const view = { site: null, may: () => false, request: 0 };

/** Load the section for `site`; `may(permission)` says what the caller may do. */
export async function loadSiteSetup(site, may) {
  view.site = site;
  view.may = may;
  const request = ++view.request;
  const status = $("#setup-status");
  hideStatus(status);
  let detail;
  try {
    detail = await api(path`/sites/${site}`);
  } catch (error) {
    if (error.status !== 401 && request === view.request) showStatus(status, "error", `Cannot load the site: ${error.message}`);
    return;
  }
  if (request !== view.request) return;
  clear($("#setup-signs")).append(...signParts(detail));
  clear($("#setup-calibration"));
  await loadCalibration(request);
}

// ---------------------------------------------------------------------------------------------
// Signs

function signParts(detail) {
  const faceCameras = detail.cameras.filter((c) => FACE_MODES.has(c.mode));
  const controller = el("input", { type: "text", id: "sign-controller", maxlength: "200", autocomplete: "organization" });
  const contact = el("input", { type: "text", id: "sign-contact", maxlength: "200", "aria-describedby": "sign-fields-hint" });
  const paper = el("select", { id: "sign-paper" }, el("option", { value: "" }, "Usual for the profile (US Letter in the US, else A4)"), el("option", { value: "a4" }, "A4"), el("option", { value: "letter" }, "US Letter"));
  const pdf = el("a", { class: "button", id: "sign-pdf", download: `signage-${view.site}.pdf` }, "Download the sign (PDF)");
  const html = el("a", { class: "button secondary", id: "sign-html", download: `signage-${view.site}.html` }, "Download the sign (HTML)");
  // The links always carry what the fields say, so a download needs no script beyond this.
  const update = () => {
    for (const [link, format] of [[pdf, "pdf"], [html, "html"]]) {
      const query = new URLSearchParams({ format });
      if (controller.value.trim()) query.set("controller", controller.value.trim());
      if (contact.value.trim()) query.set("contact", contact.value.trim());
      if (paper.value) query.set("paper", paper.value);
      link.href = `${API}${path`/sites/${view.site}/signage`}?${query}`;
    }
  };
  for (const field of [controller, contact, paper]) field.addEventListener("input", update);
  update();
  return [
    el("h3", {}, "The sign"),
    el("p", {}, `The notice people must see before a camera sees them, under the ${detail.profile.name} profile: “${detail.profile.signage}”`),
    el("h4", {}, "Where it must be displayed"),
    el(
      "ul",
      { id: "sign-placement" },
      el("li", {}, "At every entrance, where people see it before they reach a camera's view (the sign's footer prints your profile's own rule)."),
      faceCameras.length
        ? el("li", {}, "Beside each camera that recognises members: ", faceCameras.map((c) => `${c.name} (${c.mode}${c.signage_attested ? ", signs attested" : ", signs not yet attested"})`).join("; "), ".")
        : el("li", {}, "This site has no camera that recognises faces: the sign says people are only counted."),
      el("li", {}, "The QR code opens the full notice on this server; keep the printed link working (or set the public address when you print)."),
    ),
    el(
      "fieldset",
      {},
      el("legend", {}, "Printed on the sign (optional)"),
      el("p", { class: "hint", id: "sign-fields-hint" }, "Left empty, the sign has a line to fill in by hand."),
      el("div", { class: "field" }, el("label", { for: "sign-controller" }, "Controller (the business responsible)"), controller),
      el("div", { class: "field" }, el("label", { for: "sign-contact" }, "Contact (privacy e-mail or desk)"), contact),
      el("div", { class: "field" }, el("label", { for: "sign-paper" }, "Paper"), paper),
    ),
    el("div", { class: "button-row" }, pdf, html),
    el("p", { class: "hint" }, "Print the PDF at full size; the HTML file prints the same from a browser."),
  ];
}

// ---------------------------------------------------------------------------------------------
// Calibration

async function loadCalibration(request) {
  const box = $("#setup-calibration");
  let c;
  try {
    c = await api(path`/sites/${view.site}/calibration`);
  } catch (error) {
    if (error.status !== 401 && request === view.request) clear(box).append(el("h3", {}, "Calibration"), el("p", {}, `Calibration unavailable: ${error.message}`));
    return;
  }
  if (request !== view.request) return;
  clear(box).append(...calibrationParts(c));
}

const percent = (x) => `${(x * 100).toFixed(0)} %`;

function calibrationParts(c) {
  const cams = c.cameras;
  const override = c.accuracy.threshold_override !== null;
  const parts = [
    el("h3", {}, "Calibration"),
    facts([
      ["Threshold in force (cameras)", `${c.accuracy.threshold_in_force.toFixed(3)}${override ? " (a stricter threshold set from staff answers, see Accuracy)" : ""}`],
      [
        "Expected false alerts per 1,000 non-member visitors",
        override ? `fewer than ${cams.false_alerts_per_1000} (the stricter threshold alerts less often)` : String(cams.false_alerts_per_1000),
      ],
      ["Members recognised (expected)", `${percent(cams.expected_member_recall_1_photo)} enrolled from one photo, ${percent(cams.expected_member_recall_3_photos)} from a kiosk burst`],
      ["Gallery size (members searched here)", String(c.gallery_members)],
      ["False-alert budget", `${cams.false_alerts_per_1000} per 1,000 non-member visitors (${cams.budget_source === "site" ? "chosen for this site" : "the model card's default"})`],
      ...(cams.note ? [["Note", cams.note]] : []),
    ]),
    el("p", { class: "hint" }, "A lower budget means fewer false alerts and more members missed; the cameras pick the new threshold up within a second."),
  ];
  if (view.may("sites:write")) parts.push(budgetForm(cams));
  return parts;
}

function budgetForm(cams) {
  const budgets = cams.tradeoff.map((t) => t.false_alerts_per_1000);
  const low = Math.min(...budgets);
  const high = Math.max(...budgets);
  const input = el("input", {
    type: "number",
    id: "setup-budget",
    step: "any",
    inputmode: "decimal",
    value: cams.budget_source === "site" ? String(cams.false_alerts_per_1000) : "",
    placeholder: String(cams.false_alerts_per_1000),
    "aria-describedby": "setup-budget-hint",
  });
  const status = el("div", { id: "setup-budget-status", hidden: true });
  const form = el(
    "form",
    { id: "setup-budget-form" },
    el(
      "div",
      { class: "field" },
      el("label", { for: "setup-budget" }, "False-alert budget (per 1,000 non-member visitors)"),
      input,
      el("p", { class: "hint", id: "setup-budget-hint" }, `From ${low} to ${high}, the range the model card measured; leave empty for its default. The change is recorded in the audit log.`),
    ),
    el("button", { type: "submit" }, "Save false-alert budget"),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    // A typed value the browser cannot read as a number is sent as text, so the API answers.
    const value = text === "" ? null : Number.isFinite(input.valueAsNumber) ? input.valueAsNumber : text;
    input.removeAttribute("aria-invalid");
    let after;
    try {
      after = await api(path`/sites/${view.site}/calibration`, { method: "PUT", json: { false_alerts_per_1000: value } });
    } catch (error) {
      if (error.status === 401) return;
      input.setAttribute("aria-invalid", "true");
      showStatus(status, "error", `Not saved: ${error.message}`);
      input.focus();
      return;
    }
    clear($("#setup-calibration")).append(...calibrationParts(after));
    const message = `Saved: ${after.cameras.false_alerts_per_1000} false alerts per 1,000 non-member visitors; the cameras decide at threshold ${after.accuracy.threshold_in_force.toFixed(3)} from now on.`;
    const saved = showStatus($("#setup-budget-status"), "ok", message);
    saved.setAttribute("tabindex", "-1");
    saved.focus();
    announce(message);
  });
  return form;
}
