// The staff dashboard: live alerts (server-sent events) with the member card and the door
// confirmation step, footfall per hour and camera, members with consent status, withdrawal and erasure,
// the audit log with chain verification, and the site's compliance page. Each section shows
// only when the logged-in role has the permission it needs (the API checks again anyway).

import { API, api, logout, me, path } from "./api.js";
import { loadAccess } from "./access.js";
import { loadAccuracy } from "./accuracy.js";
import { loadCameras } from "./cameras.js";
import { closeCameraSetup, openCameraSetupFromHash } from "./camera-setup.js";
import { loadWebhooks } from "./webhooks.js";
import { loadSiteSetup } from "./site-setup.js";
import { loadPurchases } from "./purchases.js";
import { groupedBarChart } from "./chart.js";
import {
  $,
  announce,
  badge,
  clear,
  confirmDialog,
  el,
  facts,
  formatDate,
  formatDateTime,
  formatMoney,
  hideStatus,
  showStatus,
  table,
  yesNo,
} from "./ui.js";

const state = {
  me: null,
  permissions: new Set(),
  sites: [],
  site: null,
  section: null,
  loaded: new Set(), // sections loaded for the current site
};

const may = (permission) => state.permissions.has(permission);

// ---------------------------------------------------------------------------------------------
// Start-up, site choice and tabs

async function start() {
  try {
    state.me = await me();
  } catch (error) {
    if (error.status !== 401) showStatus($("#page-status"), "error", `Cannot load the dashboard: ${error.message}`);
    return;
  }
  state.permissions = new Set(state.me.permissions);
  $("#who").textContent = `${state.me.user} (${state.me.role}) · ${state.me.tenant}`;
  $("#logout").addEventListener("click", async () => {
    stopStream();
    await logout().catch(() => {});
    location.assign("/login?next=%2Fdashboard");
  });

  for (const tab of tabs()) tab.hidden = !may(tab.dataset.permission);
  setUpTabs();
  if (state.me.role === "kiosk") {
    const status = showStatus($("#page-status"), "info", "This is a kiosk account. ");
    status.firstChild.append(el("a", { href: "/kiosk" }, "Open the consent kiosk"));
  }

  try {
    state.sites = await api("/sites");
  } catch (error) {
    showStatus($("#page-status"), "error", `Cannot list your sites: ${error.message}`);
    return;
  }
  const select = $("#site-select");
  clear(select);
  if (!state.sites.length) {
    select.append(el("option", {}, "No sites"));
    showStatus($("#page-status"), "info", "There are no sites yet. An administrator adds them with 'consentcam site add'.");
    return;
  }
  for (const site of state.sites) select.append(el("option", { value: site.name }, site.name));
  const wanted = new URLSearchParams(location.search).get("site");
  select.value = state.sites.some((s) => s.name === wanted) ? wanted : state.sites[0].name;
  select.disabled = state.sites.length < 2;
  select.addEventListener("change", () => chooseSite(select.value));
  chooseSite(select.value);
}

function chooseSite(name) {
  state.site = name;
  state.loaded.clear();
  const url = new URL(location.href);
  url.searchParams.set("site", name);
  history.replaceState(null, "", url);
  stopStream();
  if (openCameraSetupFromHash(name)) return;
  const first = tabs().find((t) => !t.hidden);
  const fromHash = tabs().find((t) => !t.hidden && `#${t.dataset.section}` === location.hash);
  showSection((fromHash || (state.section && tabs().find((t) => t.dataset.section === state.section && !t.hidden)) || first)?.dataset.section);
}

function tabs() {
  return [...document.querySelectorAll('[role="tab"]')];
}

function setUpTabs() {
  for (const tab of tabs()) {
    tab.addEventListener("click", () => showSection(tab.dataset.section, true));
    tab.addEventListener("keydown", (event) => {
      const visible = tabs().filter((t) => !t.hidden);
      const i = visible.indexOf(tab);
      const target = {
        ArrowRight: visible[(i + 1) % visible.length],
        ArrowLeft: visible[(i - 1 + visible.length) % visible.length],
        Home: visible[0],
        End: visible[visible.length - 1],
      }[event.key];
      if (target) {
        event.preventDefault();
        showSection(target.dataset.section, true);
      }
    });
  }
}

const LOADERS = {
  alerts: startAlerts,
  footfall: loadFootfall,
  members: () => loadMembers(0),
  audit: () => loadAudit(true),
  compliance: loadCompliance,
  accuracy: () => loadAccuracy(state.site, may),
  cameras: () => loadCameras(state.site, may),
  access: () => loadAccess(state.me),
  webhooks: () => loadWebhooks(state.site),
  setup: () => loadSiteSetup(state.site, may),
  purchases: loadPurchases,
};

function showSection(section, focusTab = false) {
  if (!section) {
    showStatus($("#page-status"), "info", "Your role has no dashboard sections.");
    return;
  }
  closeCameraSetup();
  state.section = section;
  for (const tab of tabs()) {
    const selected = tab.dataset.section === section;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`#${tab.getAttribute("aria-controls")}`).hidden = !selected;
    if (selected && focusTab) tab.focus();
  }
  history.replaceState(null, "", `${location.pathname}${location.search}#${section}`);
  if (!state.site || state.loaded.has(section)) return;
  state.loaded.add(section);
  LOADERS[section]();
}

// ---------------------------------------------------------------------------------------------
// Live alerts

const ALERT_KINDS = ["recognition", "verification"];
const DECISION_KINDS = ALERT_KINDS.flatMap((k) => [`${k}.confirmed`, `${k}.dismissed`]);
// What staff may do once a door recognition is confirmed: the same as at a camera that needs no
// confirmation. Until then, only a greeting (docs/architecture.md, camera modes).
const CONFIRMED_ACTIONS = ["greet", "assist"];
const MAX_ALERTS = 100;

const alerts = {
  source: null,
  site: null,
  lastSeq: 0,
  seen: new Set(),
  cards: new Map(), // event id -> {doc, card, statusBox}
  retry: null,
  backoff: 2000,
};

async function startAlerts() {
  stopStream();
  alerts.site = state.site;
  alerts.lastSeq = 0;
  alerts.seen.clear();
  alerts.cards.clear();
  clear($("#alert-list"));
  $("#alerts-empty").hidden = false;
  hideStatus($("#alerts-status"));
  setStreamState("connecting…");
  try {
    const page = await api(`/events?site=${encodeURIComponent(alerts.site)}&limit=50`);
    for (const doc of page.items) handleEvent(doc, false);
  } catch (error) {
    if (error.status === 401) return;
    showStatus($("#alerts-status"), "error", `Cannot load recent alerts: ${error.message}`);
  }
  openStream();
}

function openStream() {
  const site = alerts.site;
  const source = new EventSource(`${API}/events/stream?site=${encodeURIComponent(site)}`);
  alerts.source = source;
  const onMessage = (message) => {
    if (alerts.source !== source) return;
    try {
      handleEvent(JSON.parse(message.data), true);
    } catch (_) {
      // A malformed message is skipped; the next one may be fine.
    }
  };
  for (const kind of [...ALERT_KINDS, ...DECISION_KINDS]) source.addEventListener(kind, onMessage);
  source.addEventListener("open", () => {
    if (alerts.source !== source) return;
    alerts.backoff = 2000;
    setStreamState("live");
    // A fresh stream starts at the newest event: fetch what came in between.
    backfill();
  });
  source.addEventListener("error", () => {
    if (alerts.source !== source) return;
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (an error status): check the session, then start again.
      source.close();
      alerts.source = null;
      setStreamState(`disconnected; retrying in ${Math.round(alerts.backoff / 1000)} s`);
      alerts.retry = window.setTimeout(reconnect, alerts.backoff);
      alerts.backoff = Math.min(30000, alerts.backoff * 2);
    } else {
      // The browser reconnects by itself and resumes with Last-Event-ID.
      setStreamState("reconnecting…");
    }
  });
}

async function reconnect() {
  alerts.retry = null;
  if (alerts.site !== state.site) return;
  try {
    await me(); // a 401 goes to the login page
  } catch (error) {
    if (error.status === 401) return;
  }
  await backfill();
  openStream();
}

async function backfill() {
  const site = alerts.site;
  try {
    const page = await api(`/events?site=${encodeURIComponent(site)}&after=${alerts.lastSeq}&limit=500`);
    if (site === alerts.site) for (const doc of page.items) handleEvent(doc, true);
  } catch (_) {
    // The stream carries on; a later reconnect tries again.
  }
}

function stopStream() {
  if (alerts.source) alerts.source.close();
  alerts.source = null;
  if (alerts.retry) window.clearTimeout(alerts.retry);
  alerts.retry = null;
  setStreamState("not connected");
}

function setStreamState(text) {
  const node = $("#stream-state");
  if (node) node.textContent = text;
}

function handleEvent(doc, live) {
  if (typeof doc !== "object" || doc === null || alerts.seen.has(doc.seq)) return;
  alerts.seen.add(doc.seq);
  alerts.lastSeq = Math.max(alerts.lastSeq, doc.seq);
  if (ALERT_KINDS.includes(doc.kind)) {
    addAlert(doc, live);
  } else if (DECISION_KINDS.includes(doc.kind)) {
    const status = doc.kind.endsWith(".confirmed") ? "confirmed" : "dismissed";
    setAlertStatus(doc.payload?.event_id, status, doc.payload?.by);
  }
}

function addAlert(doc, live) {
  if (alerts.cards.has(doc.id)) return;
  const payload = doc.payload || {};
  const member = payload.member || {};
  const name = member.name || "Member";
  const statusBox = el("div", { class: "alert-status" });
  const card = el(
    "li",
    { class: "alert-card", dataset: { eventId: doc.id }, "aria-label": `Alert: ${name}` },
    el("h3", {}, name),
    el(
      "p",
      { class: "meta" },
      `${kindLabel(doc.kind)} at ${payload.camera || "a camera"} (${payload.mode || "?"} mode) · `,
      el("time", { datetime: doc.at }, formatDateTime(doc.at)),
    ),
    picturesBlock(doc),
    el("div", { class: "cols" }, profileBlock(member.profile || {}), purchasesBlock(payload.purchases)),
    matchLine(payload),
    statusBox,
  );
  const entry = { doc, card, statusBox };
  alerts.cards.set(doc.id, entry);
  renderAlertStatus(entry);
  const list = $("#alert-list");
  list.prepend(card);
  while (list.children.length > MAX_ALERTS) {
    const last = list.lastElementChild;
    alerts.cards.delete(last.dataset.eventId);
    last.remove();
  }
  $("#alerts-empty").hidden = true;
  if (live) {
    const door = doc.status === "pending" ? " — door: confirm before anything beyond a greeting" : "";
    announce(`New alert: ${name} at ${payload.camera || "a camera"}${door}.`);
  }
}

// An alert's door snapshot is deleted when nobody answers within this time (consent/visits.py
// HOLD_S): an older pending alert's picture is not asked for.
const SNAPSHOT_HOLD_MS = 10 * 60 * 1000;

// The member's enrolment portrait beside the door camera's picture, so staff compare faces
// before they confirm (only where the member consented to pictures; links need the session).
function picturesBlock(doc) {
  const payload = doc.payload || {};
  const links = payload.pictures || {};
  if (!may("members:read") || (!links.portrait && !links.snapshot)) return null;
  const name = payload.member?.name || "the member";
  const fresh = doc.status === "confirmed" || (doc.status === "pending" && Date.now() - Date.parse(doc.at) < SNAPSHOT_HOLD_MS);
  return el(
    "div",
    { class: "alert-pictures", role: "group", "aria-label": `Compare: is this ${name}?` },
    pictureFigure(links.portrait, "Enrolment photo", `Enrolment photo of ${name}`, "portrait"),
    pictureFigure(fresh ? links.snapshot : null, "At the door", `The person at ${payload.camera || "the door"} now`, "snapshot"),
  );
}

function pictureFigure(url, caption, alt, kind) {
  const figure = el("figure", { class: `alert-picture ${kind}` });
  const gone = () => clear(figure).append(el("p", { class: "meta no-picture" }, `${caption}: no picture kept`));
  if (!url) {
    gone();
    return figure;
  }
  figure.append(el("img", { src: url, alt, width: 150, height: 150, onerror: gone }), el("figcaption", {}, caption));
  return figure;
}

function kindLabel(kind) {
  return kind === "verification" ? "Verified" : "Recognised";
}

function profileBlock(profile) {
  const pairs = Object.entries(profile).map(([k, v]) => [humanize(k), v === null ? "—" : String(v)]);
  return el("div", {}, el("h4", {}, "Profile"), pairs.length ? facts(pairs) : el("p", {}, "No profile fields."));
}

function purchasesBlock(purchases) {
  const block = el("div", {}, el("h4", {}, "Purchases"));
  if (!purchases || !purchases.purchases) {
    block.append(el("p", {}, "No purchases on record."));
    return block;
  }
  const spend = Object.entries(purchases.spend_cents || {})
    .map(([currency, cents]) => formatMoney(cents, currency))
    .join(" + ");
  const top = purchases.top_items || [];
  block.append(
    facts([
      ["Purchases", String(purchases.purchases)],
      ["Total spend", spend || "—"],
      ["Last visits", (purchases.last_visits || []).map(formatDate).join(", ") || "—"],
      ["Top items", top.length ? el("ul", {}, top.map((t) => el("li", {}, `${t.item} × ${t.count}`))) : "—"],
    ]),
  );
  return block;
}

function matchLine(payload) {
  if (payload.distance === undefined) return null;
  return el(
    "p",
    { class: "meta" },
    `Match distance ${Number(payload.distance).toFixed(3)} (threshold ${Number(payload.threshold).toFixed(3)}), ` +
      `${payload.frames ?? "?"} consistent frames.`,
  );
}

function allowedActions(entry) {
  const { doc } = entry;
  const payload = doc.payload || {};
  if (payload.confirmation !== "required") return payload.allowed_actions || [];
  if (doc.status === "confirmed") return CONFIRMED_ACTIONS;
  if (doc.status === "dismissed") return [];
  return ["greet"];
}

function renderAlertStatus(entry) {
  const { doc, card, statusBox } = entry;
  const payload = doc.payload || {};
  const door = payload.confirmation === "required";
  const status = door ? doc.status || "pending" : "not_required";
  card.classList.remove("pending", "confirmed", "dismissed");
  if (door) card.classList.add(status);
  clear(statusBox);
  const actions = allowedActions(entry).map(humanize);
  const line = el("div", { class: "actions" });
  if (door) line.append(badge(status, status === "pending" ? "Needs confirmation" : humanize(status)));
  line.append(
    el(
      "span",
      { class: "allowed" },
      actions.length ? `Allowed now: ${actions.join(", ")}` : "Not the member: no action, do not greet by name",
    ),
  );
  statusBox.append(line);
  if (door && status === "pending" && may("events:confirm")) {
    const confirm = el("button", { type: "button", class: "ok" }, "Confirm — it is the member");
    const dismiss = el("button", { type: "button", class: "danger" }, "Dismiss — not the member");
    const error = el("div", { hidden: true });
    confirm.addEventListener("click", () => decide(entry, true, [confirm, dismiss], error));
    dismiss.addEventListener("click", () => decide(entry, false, [confirm, dismiss], error));
    statusBox.append(el("div", { class: "actions" }, confirm, dismiss), error);
  } else if (door && status !== "pending" && entry.by) {
    statusBox.append(el("p", { class: "meta" }, `${humanize(status)} by ${entry.by}`));
  }
}

async function decide(entry, confirm, buttons, error) {
  for (const b of buttons) b.disabled = true;
  hideStatus(error);
  try {
    const result = await api(path`/events/${entry.doc.id}/confirm`, { method: "POST", json: { confirm } });
    setAlertStatus(entry.doc.id, result.status, result.confirmed_by);
    announce(`${entry.doc.payload?.member?.name || "Alert"} ${result.status}.`);
  } catch (e) {
    if (e.status === 401) return;
    for (const b of buttons) b.disabled = false;
    showStatus(error, "error", e.message);
  }
}

function setAlertStatus(eventId, status, by) {
  const entry = alerts.cards.get(eventId);
  if (!entry || entry.doc.status === status) return;
  entry.doc.status = status;
  entry.by = by;
  // Dismissed: the person at the door was not the member; their picture is deleted (the store
  // did so already) and leaves the page too.
  const snapshot = entry.card.querySelector(".alert-picture.snapshot");
  if (status === "dismissed" && snapshot) {
    clear(snapshot).append(el("p", { class: "meta no-picture" }, "At the door: picture deleted (not the member)"));
  }
  const hadFocus = entry.card.contains(document.activeElement);
  renderAlertStatus(entry);
  if (hadFocus) entry.card.querySelector(".allowed")?.setAttribute("tabindex", "-1");
  if (hadFocus) entry.card.querySelector(".allowed")?.focus();
}

// ---------------------------------------------------------------------------------------------
// Footfall

function localDayInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

let footfallReady = false;

async function loadFootfall() {
  const day = $("#footfall-day");
  if (!footfallReady) {
    footfallReady = true;
    day.value = localDayInput(new Date());
    $("#footfall-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadFootfall();
    });
    $("#footfall-metric").addEventListener("change", () => loadFootfall());
  }
  const status = $("#footfall-status");
  hideStatus(status);
  const [y, m, d] = (day.value || localDayInput(new Date())).split("-").map(Number);
  const since = new Date(y, m - 1, d);
  const until = new Date(y, m - 1, d + 1);
  const metric = $("#footfall-metric").value;
  let report;
  try {
    const query = new URLSearchParams({ site: state.site, since: since.toISOString(), until: until.toISOString() });
    report = await api(`/footfall?${query}`);
  } catch (error) {
    if (error.status !== 401) showStatus(status, "error", `Cannot load footfall: ${error.message}`);
    return;
  }
  drawFootfall(report, since, until, metric);
}

function drawFootfall(report, since, until, metric) {
  const hours = [];
  for (let t = since.getTime(); t < until.getTime(); t += 3600 * 1000) hours.push(new Date(t));
  const hourLabel = new Intl.DateTimeFormat(undefined, { hour: "numeric" });
  const categories = hours.map((h) => hourLabel.format(h));
  const cameras = [...new Set(report.rows.map((r) => r.camera))].sort();
  const series = cameras.map((camera) => ({ name: camera, values: hours.map(() => 0) }));
  for (const row of report.rows) {
    const index = Math.floor((new Date(row.hour).getTime() - since.getTime()) / (3600 * 1000));
    if (index < 0 || index >= hours.length) continue;
    series[cameras.indexOf(row.camera)].values[index] += row[metric] || 0;
  }
  const figure = $("#footfall-figure");
  const details = $("#footfall-details");
  const metricName = $("#footfall-metric").selectedOptions[0].textContent;
  const dayText = formatDate(since);
  if (!report.rows.length) {
    figure.hidden = true;
    details.hidden = true;
    clear($("#footfall-totals"));
    showStatus($("#footfall-status"), "info", `No footfall recorded at ${state.site} on ${dayText}.`);
    return;
  }
  const title = `${metricName} per hour and camera at ${state.site}, ${dayText}`;
  const { chart, legend } = groupedBarChart({
    categories,
    series,
    title,
    xLabel: "Hour (local time)",
    yLabel: metricName,
  });
  $("#footfall-caption").textContent = title;
  clear($("#footfall-chart")).append(chart);
  clear($("#footfall-legend")).append(...legend);
  figure.hidden = false;
  const t = report.totals;
  clear($("#footfall-totals")).append(
    facts([
      ["Entries", String(t.entries)],
      ["Exits", String(t.exits)],
      ["Visits", String(t.visits)],
      ["Mean dwell", t.visits ? `${Math.round(t.dwell_seconds / t.visits)} s` : "—"],
    ]),
  );
  clear($("#footfall-table")).append(
    table(
      `Hourly footfall at ${state.site}`,
      ["Hour", "Camera", "Entries", "Exits", "Visits", "Mean dwell (s)"],
      report.rows.map((r) => [
        formatDateTime(r.hour),
        r.camera,
        String(r.entries),
        String(r.exits),
        String(r.visits),
        r.mean_dwell_s === null ? "—" : r.mean_dwell_s.toFixed(0),
      ]),
      [2, 3, 4, 5],
    ),
  );
  details.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Members

const PAGE_SIZE = 25;
const members = { offset: 0, total: 0, wired: false };

async function loadMembers(offset) {
  if (!members.wired) {
    members.wired = true;
    $("#members-prev").addEventListener("click", () => loadMembers(Math.max(0, members.offset - PAGE_SIZE)));
    $("#members-next").addEventListener("click", () => loadMembers(members.offset + PAGE_SIZE));
  }
  const status = $("#members-status");
  let page;
  try {
    page = await api(`${path`/sites/${state.site}/members`}?limit=${PAGE_SIZE}&offset=${offset}`);
  } catch (error) {
    if (error.status !== 401) showStatus(status, "error", `Cannot list members: ${error.message}`);
    return;
  }
  members.offset = page.offset;
  members.total = page.total;
  const rows = page.items.map((m) => {
    const buttons = el("div", { class: "actions row" });
    buttons.append(el("button", { type: "button", class: "secondary", onclick: () => showCard(m.id) }, "Card", el("span", { class: "visually-hidden" }, ` of ${m.name}`)));
    if (may("export")) {
      buttons.append(el("button", { type: "button", class: "secondary", onclick: () => exportMember(m) }, "Export", el("span", { class: "visually-hidden" }, ` ${m.name}'s data`)));
    }
    if (may("withdraw") && (m.consent === "active" || m.templates > 0)) {
      buttons.append(el("button", { type: "button", class: "danger", onclick: () => withdrawMember(m) }, "Withdraw", el("span", { class: "visually-hidden" }, ` ${m.name}`)));
    }
    if (may("rectify")) {
      buttons.append(el("button", { type: "button", class: "secondary", onclick: () => rectifyName(m) }, "Correct name", el("span", { class: "visually-hidden" }, ` of ${m.name}`)));
    }
    if (may("erase")) {
      buttons.append(el("button", { type: "button", class: "danger", onclick: () => eraseMember(m) }, "Erase", el("span", { class: "visually-hidden" }, ` ${m.name}`)));
    }
    return [
      m.name,
      el("code", {}, m.id),
      badge(m.consent, m.consent),
      m.consent_expires_at ? formatDate(m.consent_expires_at) : "—",
      String(m.templates),
      buttons,
    ];
  });
  const holder = clear($("#members-table"));
  if (!rows.length) {
    holder.append(el("p", {}, offset ? "No more members." : `No members at ${state.site} yet.`));
  } else {
    holder.append(table(`Members of ${state.site}`, ["Name", "Member id", "Consent", "Consent ends", "Templates", "Actions"], rows, [4]));
  }
  const last = Math.min(page.total, page.offset + page.items.length);
  $("#members-page").textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : "";
  $("#members-prev").disabled = page.offset === 0;
  $("#members-next").disabled = last >= page.total;
}

async function showCard(memberId) {
  const holder = clear($("#member-card"));
  let card;
  try {
    card = await api(path`/members/${memberId}`);
  } catch (error) {
    if (error.status !== 401) holder.append(showStatus(el("div"), "error", error.message));
    return;
  }
  const heading = el("h3", { tabindex: "-1" }, `Member card: ${card.name}`);
  holder.append(
    el(
      "article",
      { class: "alert-card", "aria-label": `Member card of ${card.name}` },
      heading,
      // Their recent door matches are near the threshold: new kiosk photos keep them recognised.
      card.refresh_photos ? showStatus(el("div", { class: "refresh-photos" }), "warn", humanize(card.refresh_photos_reason)) : null,
      facts([
        ["Member id", el("code", {}, card.id)],
        ["Home site", card.site],
        ["Consent", badge(card.consent, card.consent)],
        ["Consent ends", card.consent_expires_at ? formatDate(card.consent_expires_at) : "—"],
        ["Face templates", card.visit_templates ? `${card.templates} (${card.templates - card.visit_templates} from enrolment, ${card.visit_templates} from confirmed visits)` : String(card.templates)],
        ["Member since", formatDate(card.created_at)],
        ["Last interaction", formatDateTime(card.last_interaction_at)],
      ]),
      card.portrait ? pictureFigure(card.portrait, "Enrolment photo", `Enrolment photo of ${card.name}`, "portrait") : null,
      el("div", { class: "cols" }, profileBlock(card.profile || {}), purchasesBlock(card.purchases)),
      el("p", { class: "meta" }, "This view of the member's profile is recorded in the audit log."),
    ),
  );
  heading.focus();
}

async function exportMember(member) {
  const status = $("#members-status");
  try {
    const data = await api(path`/members/${member.id}/export`);
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: `member-${member.id}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10000);
    showStatus(status, "ok", `Exported everything held about ${member.name} (recorded in the audit log).`);
  } catch (error) {
    if (error.status !== 401) showStatus(status, "error", `Export failed: ${error.message}`);
  }
}

function withdrawMember(member) {
  return receiptAction(member, "withdraw", "Withdrawal failed", {
    title: `Withdraw ${member.name}?`,
    body: [
      `This withdraws every consent of ${member.name} (${member.id}) and deletes their face templates at once.`,
      "They will no longer be recognised. This cannot be undone; the member can enrol again at a kiosk.",
    ],
    confirmLabel: "Withdraw and delete",
  }, (receipt) => [`Withdrawn: ${member.name}. Deletion receipt ${receipt.receipt_id}.`, [
    `Consents withdrawn: ${receipt.withdrawn_consents}`,
    `Face templates deleted: ${receipt.deleted_templates}`,
    `When: ${formatDateTime(receipt.deleted_at)}`,
    `Audit entry: ${receipt.audit_entry}`,
    receipt.kept,
  ]]);
}

function eraseMember(member) {
  return receiptAction(member, "erase", "Erasure failed", {
    title: `Erase ${member.name}?`,
    body: [
      `This erases everything held about ${member.name} (${member.id}): consents, face templates, profile, purchases, claims and the alerts naming them.`,
      "Do this on the member's request for erasure. It cannot be undone; the audit log keeps what was done, by member id only.",
    ],
    confirmLabel: "Erase everything",
  }, (receipt) => [`Erased: ${member.name}. Erasure receipt ${receipt.receipt_id}.`, [
    `Consents: ${receipt.deleted.consents}, face templates: ${receipt.deleted.templates}, purchases: ${receipt.deleted.purchases}, alerts: ${receipt.deleted.events}, claims: ${receipt.deleted.claims}`,
    `When: ${formatDateTime(receipt.erased_at)}`,
    `Audit entry: ${receipt.audit_entry}`,
    receipt.kept,
  ]]);
}

async function rectifyName(member) {
  const input = el("input", { type: "text", id: "rectify-name", value: member.name, maxlength: "200", autocomplete: "off" });
  const ok = await confirmDialog({
    title: `Correct ${member.name}'s name`,
    body: [
      "On the member's request for rectification. The audit log records that the name was corrected, not the names.",
      el("label", { for: "rectify-name" }, "Name"),
      input,
    ],
    confirmLabel: "Save the correction",
    danger: false,
  });
  if (!ok) return;
  const status = $("#members-status");
  const name = input.value.trim();
  if (!name || name === member.name) {
    showStatus(status, "error", "Nothing to correct: give the member's right name.");
    return;
  }
  try {
    const saved = await api(path`/members/${member.id}`, { method: "PATCH", json: { name } });
    showStatus(status, "ok", `Corrected: ${member.name} is now ${saved.name} (recorded in the audit log).`);
    clear($("#member-card"));
    await loadMembers(members.offset);
  } catch (error) {
    if (error.status !== 401) showStatus(status, "error", `Correction failed: ${error.message}`);
  }
}

// A rights request on one member: confirmed first, then POSTed to /members/{id}/{action}; the
// receipt is shown (and focused, for screen readers) and the list reloaded.
async function receiptAction(member, action, failure, dialog, describe) {
  if (!(await confirmDialog(dialog))) return;
  const status = $("#members-status");
  try {
    const receipt = await api(path`/members/${member.id}/${action}`, { method: "POST" });
    const [message, lines] = describe(receipt);
    showStatus(status, "ok", message, lines);
    status.setAttribute("tabindex", "-1");
    status.focus();
    clear($("#member-card"));
    await loadMembers(members.offset);
  } catch (error) {
    if (error.status !== 401) showStatus(status, "error", `${failure}: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Audit log

const audit = { after: 0, wired: false };

async function loadAudit(reset) {
  if (!audit.wired) {
    audit.wired = true;
    $("#audit-more").addEventListener("click", () => loadAudit(false));
    $("#audit-reload").addEventListener("click", () => loadAudit(true));
    $("#audit-verify").addEventListener("click", verifyAudit);
  }
  const status = $("#audit-status");
  hideStatus(status);
  if (reset) {
    audit.after = 0;
    clear($("#audit-table"));
  }
  let page;
  try {
    page = await api(`/audit?after_seq=${audit.after}&limit=100`);
  } catch (error) {
    if (error.status !== 401) showStatus(status, "error", `Cannot read the audit log: ${error.message}`);
    return;
  }
  let body = $("#audit-table tbody");
  if (!body) {
    const t = table("Audit entries, oldest first", ["Seq", "When", "Actor", "Action", "Subject", "Details", "Hash"], [], [0]);
    $("#audit-table").append(t);
    body = t.querySelector("tbody");
  }
  for (const e of page.entries) {
    body.append(
      el(
        "tr",
        {},
        el("td", { class: "num" }, String(e.seq)),
        el("td", {}, formatDateTime(e.at)),
        el("td", {}, e.actor),
        el("td", {}, e.action),
        el("td", {}, e.subject ? el("code", {}, e.subject) : "—"),
        el("td", {}, el("code", {}, JSON.stringify(e.details))),
        el("td", {}, el("code", { title: e.hash }, `${e.hash.slice(0, 12)}…`)),
      ),
    );
  }
  if (page.next_after_seq !== null) audit.after = page.next_after_seq;
  $("#audit-more").hidden = page.entries.length < 100;
  if (reset && !page.entries.length) $("#audit-table").append(el("p", {}, "No audit entries yet."));
}

async function verifyAudit() {
  const out = $("#audit-verify-result");
  const button = $("#audit-verify");
  button.disabled = true;
  showStatus(out, "info", "Verifying the whole chain…");
  try {
    const result = await api("/audit/verify");
    if (result.ok) {
      showStatus(out, "ok", `Chain intact: all ${result.entries} entries verified.`);
    } else {
      showStatus(out, "error", `Chain broken at entry ${result.first_bad_seq}: ${result.reason}`, [
        `${result.entries} entries checked.`,
        "Entries may have been changed or removed: keep a copy of the database and report it.",
      ]);
    }
  } catch (error) {
    if (error.status !== 401) showStatus(out, "error", `Cannot verify: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Compliance

async function loadCompliance() {
  const body = clear($("#compliance-body"));
  const status = $("#compliance-status");
  hideStatus(status);
  let detail;
  try {
    detail = await api(path`/sites/${state.site}`);
  } catch (error) {
    if (error.status !== 401) showStatus(status, "error", `Cannot load the site: ${error.message}`);
    return;
  }
  const p = detail.profile;
  const days = (n) => (n === null || n === undefined ? "no limit set by the profile" : `${n} days`);
  body.append(
    el("h3", {}, `Jurisdiction profile: ${p.name} (${p.code})`),
    facts([
      ["Allowed camera modes", p.allowed_modes.join(", ")],
      ["Separate biometric consent", p.separate_biometric_consent ? "Yes" : "No"],
      ["Signed written release", p.written_release ? "Yes" : "No"],
      ["Guardian consent under age", p.guardian_under === null ? "—" : String(p.guardian_under)],
      ["Sign text", p.signage],
      ["Legal basis", p.source],
    ]),
    el("h3", {}, "Cameras"),
  );
  const faceModes = new Set(["verify", "lane", "door"]);
  body.append(
    detail.cameras.length
      ? table(
          `Cameras at ${state.site}`,
          ["Camera", "Mode", "Signage attested", "Allowed by profile"],
          detail.cameras.map((c) => [
            c.name,
            c.mode,
            faceModes.has(c.mode) || c.signage_attested ? yesNo(c.signage_attested) : "not needed (count only)",
            yesNo(p.allowed_modes.includes(c.mode)),
          ]),
        )
      : el("p", {}, "No cameras yet."),
  );
  body.append(
    el("h3", {}, "Retention"),
    facts([
      ["Face templates after last interaction", days(p.template_inactivity_days)],
      ["Templates", "deleted at once on withdrawal or when consent expires"],
      ["Events (alerts)", days(p.event_retention_days)],
      ["Anonymous footfall", days(p.footfall_retention_days)],
    ]),
    el("h3", {}, "Enrolled people"),
    facts([
      ["Members of this site", String(detail.members)],
      ["Enrolled (with a face template)", String(detail.enrolled_members)],
      ...(detail.filing
        ? [
            ["Enrolled in the whole company", String(detail.filing.enrolled_people)],
            ["Filing status", badge(detail.filing.status === "ok" ? "yes" : detail.filing.status, detail.filing.status)],
            ["Filing thresholds", `warn at ${detail.filing.warn_at}, file at ${detail.filing.file_at}`],
            ["Note", detail.filing.note],
          ]
        : []),
    ]),
  );
  if (may("calibration:read")) body.append(await calibrationBlock());
  body.append(documentsBlock());
}

async function calibrationBlock() {
  const block = el("div", {}, el("h3", {}, "Recognition threshold"));
  try {
    const c = await api(path`/sites/${state.site}/calibration`);
    block.append(...calibrationParts(c));
  } catch (error) {
    block.append(el("p", {}, `Calibration unavailable: ${error.message}`));
  }
  return block;
}

function calibrationParts(c) {
  const cams = c.cameras;
  const percent = (x) => `${(x * 100).toFixed(0)} %`;
  const parts = [
    facts([
      ["Members searched", String(c.gallery_members)],
      ["Cameras: false-alert budget", `${cams.false_alerts_per_1000} per 1,000 non-member visitors (${cams.budget_source === "site" ? "chosen for this site" : "model card default"})`],
      ["Cameras: expected members recognised", `${percent(cams.expected_member_recall_1_photo)} enrolled from one photo, ${percent(cams.expected_member_recall_3_photos)} from a kiosk burst of three or more`],
      ["Cameras: distance threshold", cams.threshold.toFixed(3)],
      ...(c.accuracy.threshold_override !== null ? [["Cameras: stricter threshold applied from staff answers (Accuracy)", c.accuracy.threshold_in_force.toFixed(3)]] : []),
      ["Still photos: distance threshold", c.threshold.toFixed(3)],
      ["Still photos: expected false alerts per 1,000 non-member photos", c.expected_false_alerts_per_1000_non_members.toFixed(3)],
      ...(cams.note ? [["Note", cams.note]] : []),
      ...(c.note ? [["Note (still photos)", c.note]] : []),
    ]),
    table(
      `The trade-off at ${c.gallery_members} members: fewer false alerts means more members missed`,
      ["False alerts per 1,000 non-member visitors", "Members recognised (1 photo)", "Members recognised (3+ photos)", "Threshold"],
      cams.tradeoff.map((t) => [
        String(t.false_alerts_per_1000),
        percent(t.expected_member_recall_1_photo),
        percent(t.expected_member_recall_3_photos),
        t.threshold.toFixed(3),
      ]),
      [0, 1, 2, 3],
    ),
  ];
  if (may("sites:write")) parts.push(budgetForm(cams));
  return parts;
}

function budgetForm(cams) {
  const select = el(
    "select",
    { id: "budget-select" },
    el("option", { value: "" }, "Model card default"),
    cams.tradeoff.map((t) => el("option", { value: String(t.false_alerts_per_1000) }, `${t.false_alerts_per_1000} per 1,000`)),
  );
  select.value = cams.budget_source === "site" ? String(cams.false_alerts_per_1000) : "";
  const status = el("div", { hidden: true });
  const form = el(
    "form",
    { class: "inline-form", id: "budget-form" },
    el("label", { for: "budget-select" }, "False-alert budget for this site's cameras"),
    select,
    el("button", { type: "submit" }, "Save budget"),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = select.value === "" ? null : Number(select.value);
    try {
      const c = await api(path`/sites/${state.site}/calibration`, { method: "PUT", json: { false_alerts_per_1000: value } });
      showStatus(status, "ok", `Saved: ${c.cameras.false_alerts_per_1000} false alerts per 1,000 non-member visitors; cameras use threshold ${c.cameras.threshold.toFixed(3)} from now on.`);
    } catch (error) {
      if (error.status !== 401) showStatus(status, "error", `Not saved: ${error.message}`);
    }
  });
  return form;
}

function documentsBlock() {
  const site = encodeURIComponent(state.site);
  const link = (href, text) => el("li", {}, el("a", { href, target: "_blank", rel: "noopener" }, text));
  const items = [
    link(`${API}/sites/${site}/signage?format=html`, "Printable sign (HTML)"),
    link(`${API}/sites/${site}/signage?format=pdf`, "Printable sign (PDF)"),
  ];
  if (may("compliance:read")) {
    items.push(
      link(`${API}/compliance/ropa?site=${site}&format=html`, "Record of processing activities"),
      link(`${API}/compliance/dpia?site=${site}&format=html`, "Data protection impact assessment (draft)"),
    );
  }
  return el("div", {}, el("h3", {}, "Documents"), el("ul", {}, items), el("p", { class: "hint" }, "Documents open in a new tab."));
}

// ---------------------------------------------------------------------------------------------

function humanize(key) {
  const text = String(key).replace(/[_-]+/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

start();
