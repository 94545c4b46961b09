// DOM helpers shared by the pages. Text always goes in through textContent, never parsed as HTML:
// member names, profile fields and notices come from people and must never become markup.

/**
 * Make an element: el("button", {class: "ok", type: "button", onclick: fn}, "Confirm").
 * Attributes starting with "on" become listeners; `dataset` sets data-*; null/false skip.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (key === "text") {
      node.textContent = String(value);
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
  append(node, children);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/**
 * Show a message in a status box: kind is ok, warn, error or info; items (optional) become a
 * list under it. Error boxes are alerts for screen readers; others are polite.
 */
export function showStatus(node, kind, message, items = []) {
  clear(node);
  node.hidden = false;
  node.className = `status ${kind}`;
  node.setAttribute("role", kind === "error" ? "alert" : "status");
  node.append(el("p", { class: "status-message" }, message));
  if (items.length) node.append(el("ul", {}, items.map((item) => el("li", {}, item))));
  return node;
}

export function hideStatus(node) {
  clear(node);
  node.hidden = true;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

export function formatDateTime(value) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : dateTime.format(date);
}

export function formatDate(value) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : dateOnly.format(date);
}

/** An amount in the currency's minor units (cents, or yen for JPY) as local money text. */
export function formatMoney(minorUnits, currency) {
  try {
    const format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    const digits = format.resolvedOptions().maximumFractionDigits;
    return format.format(minorUnits / 10 ** digits);
  } catch (_) {
    return `${(minorUnits / 100).toFixed(2)} ${currency}`;
  }
}

export function badge(kind, text) {
  return el("span", { class: `badge ${kind}` }, text);
}

export function yesNo(value) {
  return value ? badge("yes", "Yes") : badge("no", "No");
}

/** A definition list from [term, description] pairs (descriptions may be nodes). */
export function facts(pairs) {
  return el(
    "dl",
    { class: "facts" },
    pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value ?? "—")]),
  );
}

/** A table with a caption, header cells and rows of cells (strings or nodes). */
export function table(caption, headers, rows, numeric = []) {
  return el(
    "table",
    {},
    caption ? el("caption", {}, caption) : null,
    el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, h)))),
    el(
      "tbody",
      {},
      rows.map((cells) => el("tr", {}, cells.map((c, i) => el("td", { class: numeric.includes(i) ? "num" : null }, c)))),
    ),
  );
}

/** Ask for confirmation in a modal dialog; resolves true when the person confirms. */
export function confirmDialog({ title, body, confirmLabel, cancelLabel = "Cancel", danger = true }) {
  return new Promise((resolve) => {
    const heading = el("h2", { id: "confirm-title" }, title);
    const yes = el("button", { type: "button", class: danger ? "danger" : "ok" }, confirmLabel);
    const no = el("button", { type: "button", class: "secondary" }, cancelLabel);
    const dialog = el(
      "dialog",
      { "aria-labelledby": "confirm-title" },
      heading,
      (Array.isArray(body) ? body : [body]).map((p) => (p instanceof Node ? p : el("p", {}, p))),
      el("div", { class: "actions" }, no, yes),
    );
    let answer = false;
    yes.addEventListener("click", () => {
      answer = true;
      dialog.close();
    });
    no.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus(); // the safe choice has focus: Enter alone never erases anything
  });
}

/** Announce a short message to screen readers through the page's polite live region. */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = message;
  }, 50);
}
