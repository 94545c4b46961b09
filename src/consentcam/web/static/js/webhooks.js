// The Webhooks section (admins and owners: webhooks:write): the site's webhooks with their
// delivery counts, adding one (the server's address policy decides; a refusal is shown in its
// words), its signing secret shown once, a signed test event sent now with the receiver's answer,
// the recent deliveries and failures the store records, and removal after a confirmation.

import { api, path } from "./api.js";
import { $, announce, clear, confirmDialog, el, facts, formatDateTime, hideStatus, showStatus, table } from "./ui.js";

const view = { site: null, request: 0 };
const STATUS_WORDS = { pending: "Pending", delivered: "Delivered", failed: "Failed" };

/** Show the webhooks that send `site`'s events (its own and those for every site). */
export async function loadWebhooks(site) {
  view.site = site;
  const request = ++view.request;
  const body = $("#webhooks-body");
  const status = $("#webhooks-status");
  hideStatus(status);
  let hooks;
  try {
    hooks = await api("/webhooks");
  } catch (error) {
    if (error.status !== 401 && request === view.request) showStatus(status, "error", `Cannot list the webhooks: ${error.message}`);
    return;
  }
  if (request !== view.request) return; // another site was chosen meanwhile
  const mine = hooks.filter((h) => h.site === site || h.site === null);
  clear(body).append(
    addForm(),
    el("h3", {}, `Webhooks sending the events of ${site}`),
    mine.length
      ? el("ul", { class: "cards", "aria-label": "Webhooks" }, mine.map(webhookCard))
      : el("p", { id: "webhooks-empty" }, "No webhooks yet. Add one above to send this site's events to your own system."),
  );
}

function addForm() {
  const url = el("input", { type: "url", id: "webhook-url", required: true, maxlength: "2000", placeholder: "https://shop.example/hooks/consentcam", "aria-describedby": "webhook-url-hint" });
  const scope = el(
    "select",
    { id: "webhook-scope" },
    el("option", { value: "site" }, `This site only (${view.site})`),
    el("option", { value: "all" }, "Every site (needs access to every site)"),
  );
  const status = el("div", { id: "webhook-add-status", hidden: true });
  const form = el(
    "form",
    { id: "webhook-add-form" },
    el("h3", {}, "Add a webhook"),
    el(
      "div",
      { class: "field" },
      el("label", { for: "webhook-url" }, "Receiver URL"),
      url,
      el(
        "p",
        { class: "hint", id: "webhook-url-hint" },
        "A public https address, or one on a network the operator allowed. Events name members and their purchases, so they never leave over plain http.",
      ),
    ),
    el("div", { class: "field" }, el("label", { for: "webhook-scope" }, "Events of"), scope),
    el("button", { type: "submit" }, "Add webhook"),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const json = { url: url.value.trim() };
    if (scope.value === "site") json.site = view.site;
    url.removeAttribute("aria-invalid");
    let created;
    try {
      created = await api("/webhooks", { method: "POST", json });
    } catch (error) {
      if (error.status === 401) return;
      url.setAttribute("aria-invalid", "true");
      showStatus(status, "error", `Not added: ${error.message}`);
      url.focus();
      return;
    }
    await loadWebhooks(view.site);
    secretShown(created);
  });
  return form;
}

// The secret is in this response only: shown in a read-only field (easy to select and copy),
// focused so a screen reader reads it, and gone once the section reloads.
function secretShown(created) {
  const status = showStatus($("#webhooks-status"), "ok", `Webhook added for ${created.site ?? "every site"}. Its signing secret is shown only now: copy it into the receiver, which checks each request's Consentcam-Signature header with it.`);
  const field = el("input", { type: "text", id: "webhook-secret", class: "mono secret", readonly: true, value: created.secret, size: "60" });
  status.append(el("div", { class: "field" }, el("label", { for: "webhook-secret" }, "Signing secret"), field));
  field.focus();
  field.select();
  announce("Webhook added. Its signing secret is shown once.");
}

function webhookCard(hook) {
  const counts = hook.deliveries;
  const result = el("div", { hidden: true });
  const deliveries = el("div", { class: "webhook-deliveries" });
  const heading = el("h4", {}, el("span", { class: "mono" }, hook.url));
  const testButton = el("button", { type: "button" }, "Send a test event");
  testButton.addEventListener("click", () => sendTest(hook, testButton, result));
  const showButton = el("button", { type: "button", class: "secondary", "aria-expanded": "false" }, "Show deliveries");
  showButton.addEventListener("click", () => toggleDeliveries(hook, showButton, deliveries));
  const removeButton = el("button", { type: "button", class: "danger" }, "Remove");
  removeButton.addEventListener("click", () => removeWebhook(hook));
  return el(
    "li",
    { class: "card webhook", dataset: { webhook: hook.id } },
    heading,
    facts([
      ["Events of", hook.site === null ? "every site" : hook.site],
      ["Added", formatDateTime(hook.created_at)],
      ["Deliveries", `${counts.delivered} delivered, ${counts.pending} pending, ${counts.failed} failed`],
    ]),
    el("div", { class: "actions" }, testButton, showButton, removeButton),
    result,
    deliveries,
  );
}

async function sendTest(hook, button, result) {
  button.disabled = true;
  showStatus(result, "info", "Sending a test event…");
  try {
    const r = await api(path`/webhooks/${hook.id}/test`, { method: "POST" });
    const text = r.delivered
      ? `Test event delivered: the receiver answered HTTP ${r.status_code}.`
      : `Test event not delivered: ${r.detail}.`;
    showStatus(result, r.delivered ? "ok" : "error", text, [`Sent ${formatDateTime(r.at)}, event id ${r.event_id} (kind webhook.test).`]);
    announce(text);
  } catch (error) {
    if (error.status !== 401) showStatus(result, "error", `Not sent: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

async function toggleDeliveries(hook, button, box) {
  if (button.getAttribute("aria-expanded") === "true") {
    clear(box);
    button.setAttribute("aria-expanded", "false");
    button.textContent = "Show deliveries";
    return;
  }
  button.setAttribute("aria-expanded", "true");
  button.textContent = "Hide deliveries";
  const failuresOnly = el("input", { type: "checkbox", id: `failures-${hook.id}` });
  const list = el("div", { "aria-live": "polite" });
  failuresOnly.addEventListener("change", () => showDeliveries(hook, failuresOnly.checked, list));
  clear(box).append(
    el("div", { class: "checkbox" }, failuresOnly, el("label", { for: `failures-${hook.id}` }, "Failures only")),
    list,
  );
  await showDeliveries(hook, false, list);
}

async function showDeliveries(hook, failures, box) {
  let rows;
  try {
    rows = await api(`${path`/webhooks/${hook.id}/deliveries`}?limit=20&failures=${failures}`);
  } catch (error) {
    if (error.status !== 401) showStatus(clear(box), "error", `Cannot list the deliveries: ${error.message}`);
    return;
  }
  if (!rows.length) {
    clear(box).append(el("p", {}, failures ? "No failed deliveries." : "No deliveries yet: events are sent as they happen."));
    return;
  }
  clear(box).append(
    el(
      "div",
      { class: "table-scroll" },
      table(
        failures ? "Recent failures (newest event first)" : "Recent deliveries (newest event first)",
        ["Event", "Happened", "Status", "Attempts", "Last problem", "Delivered or next attempt"],
        rows.map((d) => [
          d.event_kind,
          formatDateTime(d.event_at),
          d.status === "pending" && d.last_error ? "Retrying" : STATUS_WORDS[d.status] || d.status,
          String(d.attempts),
          d.last_error_words || "—",
          d.status === "delivered" ? `delivered ${formatDateTime(d.delivered_at)}` : d.status === "pending" ? `next try ${formatDateTime(d.next_attempt_at)}` : "no more attempts",
        ]),
        [3],
      ),
    ),
  );
}

async function removeWebhook(hook) {
  const ok = await confirmDialog({
    title: "Remove this webhook?",
    body: [`${hook.url} will receive no more events. Its secret and its ${hook.deliveries.pending} pending deliveries are deleted.`, "The removal is recorded in the audit log."],
    confirmLabel: "Remove webhook",
  });
  if (!ok) return;
  try {
    await api(path`/webhooks/${hook.id}`, { method: "DELETE" });
  } catch (error) {
    if (error.status !== 401) showStatus($("#webhooks-status"), "error", `Not removed: ${error.message}`);
    return;
  }
  await loadWebhooks(view.site);
  const status = showStatus($("#webhooks-status"), "ok", `Webhook removed: ${hook.url} gets no more events.`);
  status.setAttribute("tabindex", "-1");
  status.focus();
}
