// The Accuracy section: how often staff dismissed door alerts (the shop's own false-alert share,
// with its 95% interval), per week and per camera, the match distances behind it, the site's
// dismissal budget and, for admins, the stricter threshold the answers support, applied through
// the API (audited). Counts only: no member is named here.

import { api, path } from "./api.js";
import { groupedBarChart } from "./chart.js";
import { $, announce, clear, confirmDialog, el, facts, formatDateTime, hideStatus, showStatus, table } from "./ui.js";

const PERIODS = [7, 30, 90];
const view = { site: null, may: () => false, days: 30, request: 0 };

const percent = (x, digits = 1) => `${(x * 100).toFixed(digits)} %`;
const shareText = (rate, ci95) =>
  rate === null ? "no answers yet" : `${percent(rate)} (95 % interval ${percent(ci95[0])} to ${percent(ci95[1])})`;

const BUDGET_STATUS = {
  over: ["warn", "Over budget: staff dismiss more door alerts than the budget allows, with 95 % confidence."],
  unclear: ["info", "Not yet clear: the interval straddles the budget. More answers will tell."],
  within: ["ok", "Within budget, with 95 % confidence."],
  "no answers": ["info", "No answered door alerts in this period."],
};

/** Load and show the report of `site`; `may(permission)` says what the caller may do. */
export async function loadAccuracy(site, may) {
  view.site = site;
  view.may = may;
  const request = ++view.request;
  const body = $("#accuracy-body");
  const status = $("#accuracy-status");
  hideStatus(status);
  let report;
  try {
    report = await api(`${path`/sites/${site}/accuracy`}?days=${view.days}`);
  } catch (error) {
    if (error.status !== 401 && request === view.request) showStatus(status, "error", `Cannot load the accuracy report: ${error.message}`);
    return;
  }
  if (request !== view.request) return; // another site or period was asked for meanwhile
  clear(body).append(...reportParts(report));
}

function reportParts(r) {
  return [
    periodForm(),
    el("h3", {}, `Door alerts and staff answers, last ${r.days} days`),
    facts([
      ["Door alerts", String(r.alerts)],
      ["Confirmed (it was the member)", String(r.confirmed)],
      ["Dismissed (it was not)", String(r.dismissed)],
      [`Unanswered (no answer within ${Math.round(r.hold_s / 60)} minutes)`, String(r.unanswered)],
      ["Waiting for an answer", String(r.waiting)],
      ["Dismissed share of answered alerts", shareText(r.false_alert_rate, r.ci95)],
      ...judgedAt(r),
      ["Dismissal budget", `${percent(r.dismissal_budget)} (${r.budget_source === "site" ? "set for this site" : "default"})`],
      ["Cameras' threshold in force", thresholdText(r)],
    ]),
    budgetStatus(r),
    ...proposalParts(r),
    ...weeklyParts(r),
    table(
      `Door alerts per camera, last ${r.days} days`,
      ["Camera", "Alerts", "Confirmed", "Dismissed", "Unanswered", "Dismissed share"],
      r.per_camera.map((c) => [c.camera, String(c.alerts), String(c.confirmed), String(c.dismissed), String(c.unanswered), shareText(c.false_alert_rate, c.ci95)]),
      [1, 2, 3, 4],
    ),
    distancesTable(r.distances),
    el("p", { class: "hint" }, `Figures from ${formatDateTime(r.since)} to ${formatDateTime(r.until)}. A lower distance is a closer match; the cameras raise an alert at or below the threshold.`),
    ...(view.may("sites:write") ? [budgetForm(r)] : []),
  ];
}

// The budget is judged on the alerts the threshold in force would still raise: after a stricter
// threshold is applied, those differ from all the alerts of the period, and the page says so.
function judgedAt(r) {
  const a = r.at_threshold;
  if (a.confirmed === r.confirmed && a.dismissed === r.dismissed) return [];
  const answered = a.confirmed + a.dismissed;
  return [["Judged at the threshold in force", `${shareText(a.false_alert_rate, a.ci95)} of the ${answered} answered alerts it would still raise`]];
}

function thresholdText(r) {
  const threshold = r.threshold.toFixed(4);
  if (r.threshold_source === "model card") return `${threshold} (the model card's)`;
  return `${threshold} (a stricter threshold applied at this site; the model card's is ${r.model_card_threshold.toFixed(4)})`;
}

function periodForm() {
  const select = el("select", { id: "accuracy-days" }, PERIODS.map((d) => el("option", { value: String(d) }, `Last ${d} days`)));
  select.value = String(view.days);
  select.addEventListener("change", () => {
    view.days = Number(select.value);
    loadAccuracy(view.site, view.may).then(() => $("#accuracy-days")?.focus());
  });
  return el("div", { class: "row" }, el("div", { class: "field" }, el("label", { for: "accuracy-days" }, "Period"), select));
}

function budgetStatus(r) {
  const [kind, text] = BUDGET_STATUS[r.budget_status];
  const box = showStatus(el("div", { id: "accuracy-budget-status" }), kind, text);
  box.setAttribute("role", "note"); // shown with the report, not an event to announce
  return box;
}

function proposalParts(r) {
  const parts = [];
  const admin = view.may("sites:write");
  if (r.proposal) {
    const p = r.proposal;
    parts.push(
      el("h3", {}, "Proposed stricter threshold"),
      facts([
        ["Threshold", p.threshold.toFixed(4)],
        ["Dismissed alerts it would have avoided", String(p.dismissed_avoided)],
        ["Confirmed alerts it keeps", `${percent(p.confirmed_kept, 0)} (${p.confirmed_lost} member visit(s) missed)`],
        ["Dismissed share at it, same answers", percent(p.dismissed_share)],
      ]),
    );
    if (admin) parts.push(thresholdButton(`Apply threshold ${p.threshold.toFixed(4)}`, p.threshold, r));
    else parts.push(el("p", { class: "hint" }, "An administrator can apply it."));
  }
  if (r.proposal_note) parts.push(el("p", {}, `Note: ${r.proposal_note}`));
  if (admin && r.threshold_override !== null) {
    parts.push(thresholdButton("Go back to the model card's threshold", null, r));
  }
  return parts;
}

function thresholdButton(label, threshold, r) {
  const button = el("button", { type: "button", class: threshold === null ? "secondary" : null }, label);
  const status = el("div", { hidden: true });
  button.addEventListener("click", async () => {
    const body =
      threshold === null
        ? [`The cameras at ${view.site} go back to the model card's threshold, ${r.model_card_threshold.toFixed(4)}.`]
        : [
            `The cameras at ${view.site} will alert only at a match distance of ${threshold.toFixed(4)} or less (now ${r.threshold.toFixed(4)}).`,
            "Fewer alerts will be false, and some members will not be recognised. The change is recorded in the audit log.",
          ];
    const ok = await confirmDialog({ title: threshold === null ? "Clear the stricter threshold?" : "Apply the stricter threshold?", body, confirmLabel: label, danger: false });
    if (!ok) return;
    button.disabled = true;
    try {
      const after = await api(path`/sites/${view.site}/accuracy/threshold`, { method: "PUT", json: { threshold } });
      await saved(`Saved: the cameras decide at threshold ${after.threshold.toFixed(4)} from now on (recorded in the audit log).`);
    } catch (error) {
      button.disabled = false;
      if (error.status !== 401) showStatus(status, "error", `Not saved: ${error.message}`);
    }
  });
  return el("div", { class: "row" }, button, status);
}

// After a change: the report again, and the confirmation focused (the control that made the
// change may be gone from the new report) and announced.
async function saved(message) {
  await loadAccuracy(view.site, view.may);
  const status = showStatus($("#accuracy-status"), "ok", message);
  status.setAttribute("tabindex", "-1");
  status.focus();
  announce(message);
}

function weeklyParts(r) {
  const weeks = r.per_week;
  const categories = weeks.map((w) => w.week.slice(5)); // "W49": the year is in the table
  const { chart, legend } = groupedBarChart({
    categories,
    series: [
      { name: "Confirmed", values: weeks.map((w) => w.confirmed) },
      { name: "Dismissed", values: weeks.map((w) => w.dismissed) },
      { name: "Unanswered", values: weeks.map((w) => w.unanswered) },
    ],
    title: `Door alerts per ISO week at ${r.site}: confirmed, dismissed and unanswered`,
    xLabel: "ISO week",
    yLabel: "Door alerts",
  });
  return [
    el("h3", {}, "Per week"),
    el("figure", {}, chart, el("ul", { class: "legend", "aria-label": "Answers" }, legend)),
    el(
      "details",
      {},
      el("summary", {}, "Table of the weekly figures"),
      table(
        "Door alerts per ISO week",
        ["Week", "Starts", "Alerts", "Confirmed", "Dismissed", "Unanswered", "Dismissed share"],
        weeks.map((w) => [w.week, w.start, String(w.alerts), String(w.confirmed), String(w.dismissed), String(w.unanswered), shareText(w.false_alert_rate, w.ci95)]),
        [2, 3, 4, 5],
      ),
    ),
  ];
}

function distancesTable(d) {
  const cell = (v) => (v === null ? "—" : v.toFixed(4));
  const row = (name, q) => [name, String(q.count), cell(q.min), cell(q.p25), cell(q.median), cell(q.p75), cell(q.max)];
  return table(
    "Match distances of answered alerts (lower is closer)",
    ["Answer", "Alerts", "Lowest", "Quarter", "Median", "Three quarters", "Highest"],
    [row("Confirmed", d.confirmed), row("Dismissed", d.dismissed)],
    [1, 2, 3, 4, 5, 6],
  );
}

function budgetForm(r) {
  const input = el("input", {
    type: "number",
    id: "accuracy-budget",
    min: "0.1",
    max: "99.9",
    step: "0.1",
    value: r.budget_source === "site" ? String(+(r.dismissal_budget * 100).toFixed(2)) : "",
    placeholder: "2",
    "aria-describedby": "accuracy-budget-hint",
  });
  const status = el("div", { hidden: true });
  const form = el(
    "form",
    { class: "inline-form", id: "accuracy-budget-form" },
    el("label", { for: "accuracy-budget" }, "Dismissal budget for this site (% of answered door alerts)"),
    input,
    el("p", { class: "hint", id: "accuracy-budget-hint" }, "Leave empty for the default, 2 %. The change is recorded in the audit log."),
    el("button", { type: "submit" }, "Save dismissal budget"),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value === "" ? null : Number(input.value) / 100;
    try {
      const after = await api(path`/sites/${view.site}/accuracy/budget`, { method: "PUT", json: { dismissal_budget: value } });
      await saved(`Saved: staff may dismiss ${percent(after.dismissal_budget)} of answered door alerts (recorded in the audit log).`);
    } catch (error) {
      if (error.status !== 401) showStatus(status, "error", `Not saved: ${error.message}`);
    }
  });
  return el("div", {}, el("h3", {}, "Dismissal budget"), form);
}
