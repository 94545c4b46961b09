// The People & access section (owners and admins, `access:write`): the tenant's users with role,
// sites and state; adding a user; resetting a password; disabling, enabling, changing the role or
// sites, removing; and the API and kiosk tokens: issue, list, revoke. A new password or token
// appears once, in a box with a copy button, and is never fetched again: the API returns it in
// that one answer only. Every change is audited by the API with the caller as actor.

import { api, path } from "./api.js";
import { $, announce, badge, clear, confirmDialog, el, formatDate, formatDateTime, hideStatus, showStatus, table } from "./ui.js";

const ROLES = ["owner", "admin", "staff", "auditor", "kiosk"];
// Mirrors auth.roles.RANK and may_grant: the API refuses anything else; the page only avoids
// offering what would be refused.
const RANK = { owner: 4, admin: 3, auditor: 2, staff: 2, kiosk: 1 };
const mayGrant = (granter, role) => granter === "owner" || role === granter || RANK[role] < RANK[granter];
const ROLE_HINTS = {
  owner: "everything, users and owners included",
  admin: "runs the shop: sites, cameras, members, users below owner",
  staff: "live alerts, door confirmations, members, footfall",
  auditor: "reads the audit log and compliance pages",
  kiosk: "the consent kiosk only",
};

const view = { me: null, users: [], tokens: [], sites: [], set: false, request: 0 };

/** Load the section for `me` (GET /auth/me's answer). */
export async function loadAccess(me) {
  view.me = me;
  const request = ++view.request;
  const status = $("#access-status");
  hideStatus(status);
  if (!view.set) setUpForms();
  try {
    const [users, tokens, sites] = await Promise.all([api("/users"), api("/tokens"), api("/sites")]);
    if (request !== view.request) return;
    Object.assign(view, { users, tokens, sites });
  } catch (error) {
    if (error.status !== 401 && request === view.request) showStatus(status, "error", `Cannot load people and tokens: ${error.message}`);
    return;
  }
  render();
}

function render() {
  renderUsers();
  renderTokens();
  fillRoleSelect($("#access-user-role"), "staff");
  fillSiteChoices($("#access-user-sites"), "access-new", null);
  fillTokenUsers();
}

// ---------------------------------------------------------------------------------------------
// Users

function renderUsers() {
  const rows = view.users.map((user) => [
    user.name,
    user.role,
    sitesText(user.sites),
    user.disabled ? badge("withdrawn", "Disabled") : badge("active", "Active"),
    userActions(user),
  ]);
  clear($("#access-users")).append(
    el("div", { class: "table-scroll" }, table(`Users (${view.users.length})`, ["Name", "Role", "Sites", "State", "Actions"], rows)),
  );
}

function userActions(user) {
  if (!mayGrant(view.me.role, user.role)) return el("span", { class: "hint" }, "Only an owner manages this user.");
  const label = (text) => `${text} ${user.name}`;
  return el(
    "div",
    { class: "row" },
    el("button", { type: "button", class: "secondary", "aria-label": label("Edit"), onclick: () => editUser(user) }, "Edit"),
    el("button", { type: "button", class: "secondary", "aria-label": label("Reset the password of"), onclick: () => resetPassword(user) }, "Reset password"),
    user.disabled
      ? el("button", { type: "button", class: "secondary", "aria-label": label("Enable"), onclick: () => setDisabled(user, false) }, "Enable")
      : el("button", { type: "button", class: "secondary", "aria-label": label("Disable"), onclick: () => setDisabled(user, true) }, "Disable"),
    el("button", { type: "button", class: "danger", "aria-label": label("Remove"), onclick: () => removeUser(user) }, "Remove"),
  );
}

async function addUser(event) {
  event.preventDefault();
  const status = $("#access-user-status");
  const name = $("#access-user-name").value.trim();
  const role = $("#access-user-role").value;
  const sites = chosenSites($("#access-user-sites"));
  if (!name) {
    $("#access-user-name").setAttribute("aria-invalid", "true");
    showStatus(status, "error", "Give the new user a name.");
    $("#access-user-name").focus();
    return;
  }
  if (sites !== null && !sites.length) {
    showStatus(status, "error", "Choose at least one site, or every site.");
    return;
  }
  $("#access-user-name").removeAttribute("aria-invalid");
  try {
    const added = await api("/users", { method: "POST", json: { name, role, sites } });
    hideStatus(status);
    $("#access-user-form").reset();
    showSecret(`${added.name} (${added.role}) is added. Their password:`, added.password, "password", `Hand it to ${added.name}; they log in with it.`);
  } catch (error) {
    showStatus(status, "error", `The user was not added: ${error.message}`);
    return;
  }
  await loadAccess(view.me);
}

async function resetPassword(user) {
  const ok = await confirmDialog({
    title: `Reset the password of ${user.name}?`,
    body: [`${user.name} gets a new password, shown to you once. Their old password stops working and their open sessions end.`],
    confirmLabel: "Reset password",
  });
  if (!ok) return;
  try {
    const answer = await api(path`/users/${user.id}/password`, { method: "POST" });
    showSecret(`New password of ${user.name}:`, answer.password, "password", `Hand it to ${user.name}.`);
  } catch (error) {
    showStatus($("#access-status"), "error", `The password was not reset: ${error.message}`);
  }
}

async function setDisabled(user, disable) {
  if (disable) {
    const ok = await confirmDialog({
      title: `Disable ${user.name}?`,
      body: [`${user.name} can no longer log in, their open sessions end and their tokens stop working. You can enable them again.`],
      confirmLabel: "Disable",
    });
    if (!ok) return;
  }
  await change(path`/users/${user.id}/${disable ? "disable" : "enable"}`, { method: "POST" }, `${user.name} is ${disable ? "disabled" : "enabled"}.`);
}

async function removeUser(user) {
  const ok = await confirmDialog({
    title: `Remove ${user.name}?`,
    body: [`${user.name} and their tokens are deleted; the audit log keeps what they did. This cannot be undone.`],
    confirmLabel: "Remove",
  });
  if (!ok) return;
  await change(path`/users/${user.id}`, { method: "DELETE" }, `${user.name} is removed.`);
}

function editUser(user) {
  const holder = clear($("#access-edit"));
  const roleSelect = el("select", { id: "access-edit-role" });
  fillRoleSelect(roleSelect, user.role);
  const sites = el("fieldset", { id: "access-edit-sites" });
  fillSiteChoices(sites, "access-edit", user.sites);
  const status = el("div", { hidden: true });
  const form = el(
    "form",
    { class: "panel-form", "aria-labelledby": "access-edit-title" },
    el("h3", { id: "access-edit-title" }, `Change ${user.name}`),
    el("div", { class: "field" }, el("label", { for: "access-edit-role" }, "Role"), roleSelect),
    sites,
    status,
    el(
      "div",
      { class: "row" },
      el("button", { type: "submit" }, "Save changes"),
      el("button", { type: "button", class: "secondary", onclick: () => clear(holder) }, "Cancel"),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const json = {};
    if (roleSelect.value !== user.role) json.role = roleSelect.value;
    const chosen = chosenSites(sites);
    if (chosen !== null && !chosen.length) {
      showStatus(status, "error", "Choose at least one site, or every site.");
      return;
    }
    if (JSON.stringify(chosen) !== JSON.stringify(user.sites)) json.sites = chosen;
    try {
      await api(path`/users/${user.id}`, { method: "PATCH", json });
    } catch (error) {
      showStatus(status, "error", `Not changed: ${error.message}`);
      return;
    }
    clear(holder);
    announce(`${user.name} is changed.`);
    await loadAccess(view.me);
  });
  holder.append(form);
  roleSelect.focus();
}

async function change(url, options, done) {
  try {
    await api(url, options);
  } catch (error) {
    showStatus($("#access-status"), "error", error.message);
    return;
  }
  await loadAccess(view.me);
  showStatus($("#access-status"), "ok", done);
}

// ---------------------------------------------------------------------------------------------
// Tokens

function renderTokens() {
  const rows = view.tokens.map((token) => [
    token.label,
    el("code", {}, `cc_${token.prefix}_…`),
    token.user,
    token.role,
    sitesText(token.sites, "the user's"),
    badge(token.state === "active" ? "active" : token.state === "expired" ? "expired" : "withdrawn", token.state),
    formatDate(token.expires_at),
    formatDateTime(token.last_used_at),
    token.state === "revoked"
      ? "—"
      : el("button", { type: "button", class: "danger", "aria-label": `Revoke token ${token.label} of ${token.user}`, onclick: () => revokeToken(token) }, "Revoke"),
  ]);
  const holder = clear($("#access-tokens"));
  if (!rows.length) holder.append(el("p", {}, "No tokens yet."));
  else {
    holder.append(
      el(
        "div",
        { class: "table-scroll" },
        table(`Tokens (${rows.length})`, ["Label", "Token", "User", "Role", "Sites", "State", "Expires", "Last used", "Actions"], rows),
      ),
    );
  }
}

async function createToken(event) {
  event.preventDefault();
  const status = $("#access-token-status");
  const user = $("#access-token-user").value;
  const label = $("#access-token-label").value.trim();
  const kind = $("#access-token-kind").value;
  const days = Number($("#access-token-days").value);
  if (!user || !label) {
    showStatus(status, "error", "Choose a user and give the token a label (what it is for).");
    return;
  }
  try {
    const json = { user, label, days, role: kind === "kiosk" ? "kiosk" : null };
    const issued = await api("/tokens", { method: "POST", json });
    hideStatus(status);
    $("#access-token-form").reset();
    showSecret(
      `Token "${issued.label}" (${issued.role}) for ${issued.user}, until ${formatDate(issued.expires_at)}:`,
      issued.token,
      "token",
      "Send it as 'Authorization: Bearer <token>'.",
    );
  } catch (error) {
    showStatus(status, "error", `No token was issued: ${error.message}`);
    return;
  }
  await loadAccess(view.me);
}

async function revokeToken(token) {
  const ok = await confirmDialog({
    title: `Revoke the token "${token.label}"?`,
    body: [`Anything using this token of ${token.user} stops working at once. This cannot be undone.`],
    confirmLabel: "Revoke",
  });
  if (!ok) return;
  await change(path`/tokens/${token.id}/revoke`, { method: "POST" }, `The token "${token.label}" is revoked.`);
}

function fillTokenUsers() {
  const select = clear($("#access-token-user"));
  const active = view.users.filter((u) => !u.disabled && mayGrant(view.me.role, u.role));
  for (const user of active) select.append(el("option", { value: user.name }, `${user.name} (${user.role})`));
  $("#access-token-submit").disabled = !active.length;
}

// ---------------------------------------------------------------------------------------------
// Shared parts

/** Show a new secret once: it is in the page until "Done", and never fetched again. */
function showSecret(heading, secret, what, hint) {
  const holder = clear($("#access-secret"));
  const code = el("code", { id: "access-secret-value", class: "big-id" }, secret);
  const copied = el("span", { role: "status" });
  const copy = el("button", { type: "button", id: "access-secret-copy" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(secret);
      copied.textContent = "Copied.";
    } catch (_) {
      copied.textContent = "The browser did not allow copying: select the text and copy it.";
    }
  });
  const done = el("button", { type: "button", class: "secondary" }, "Done");
  done.addEventListener("click", () => {
    clear(holder).hidden = true;
    $("#access-users").focus();
  });
  holder.hidden = false;
  holder.append(
    el("h3", { id: "access-secret-title", tabindex: "-1" }, heading),
    el("p", {}, code),
    el("p", { class: "status warn" }, `Copy the ${what} now: it will not be shown again. ${hint}`),
    el("div", { class: "row" }, copy, done, copied),
  );
  $("#access-secret-title").focus();
  announce(`New ${what} shown once.`);
}

function fillRoleSelect(select, selected) {
  clear(select);
  for (const role of ROLES.filter((r) => mayGrant(view.me.role, r))) {
    select.append(el("option", { value: role, selected: role === selected }, `${role}: ${ROLE_HINTS[role]}`));
  }
}

/** "Every site" plus one box per site; `current` null means every site. */
function fillSiteChoices(fieldset, prefix, current) {
  clear(fieldset).append(el("legend", {}, "Sites"));
  const all = el("input", { type: "checkbox", id: `${prefix}-all-sites`, checked: current === null });
  // Ids by position: a site's name may hold spaces, which an id must not.
  const boxes = view.sites.map((site, i) =>
    el("input", { type: "checkbox", id: `${prefix}-site-${i}`, value: site.name, checked: current !== null && current.includes(site.name), disabled: current === null }),
  );
  all.addEventListener("change", () => {
    for (const box of boxes) box.disabled = all.checked;
  });
  fieldset.append(el("div", { class: "checkbox" }, all, el("label", { for: all.id }, "Every site, now and later")));
  view.sites.forEach((site, i) => fieldset.append(el("div", { class: "checkbox" }, boxes[i], el("label", { for: boxes[i].id }, site.name))));
}

/** The sites ticked in `fieldset`: null for every site. */
function chosenSites(fieldset) {
  const boxes = [...fieldset.querySelectorAll('input[type="checkbox"]')];
  if (boxes[0]?.checked) return null;
  return boxes.slice(1).filter((b) => b.checked).map((b) => b.value).sort();
}

function sitesText(sites, none = "every site") {
  return sites === null ? none : sites.join(", ");
}

function setUpForms() {
  view.set = true;
  $("#access-user-form").addEventListener("submit", addUser);
  $("#access-token-form").addEventListener("submit", createToken);
}
