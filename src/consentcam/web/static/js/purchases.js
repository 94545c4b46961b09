// The Purchases section (purchases:write): upload a point-of-sale CSV export. The server checks
// every row before it stores any (all or nothing), so the page shows either the summary (rows
// imported, members they belong to) or the first problem in the API's words, with nothing stored.

import { api } from "./api.js";
import { $, announce, clear, el, facts, hideStatus, showStatus } from "./ui.js";

const HEADER = "member_id,time,items,amount,currency";
const EXAMPLE = "9c1e…,2024-05-01T10:00:00+02:00,tea;scones,7.50,EUR";
let built = false;

/** Build the upload form once (it does not depend on the site: each row names its member). */
export function loadPurchases() {
  hideStatus($("#purchases-status"));
  if (built) return;
  built = true;
  const file = el("input", { type: "file", id: "purchases-file", class: "file-input", accept: ".csv,text/csv", required: true, "aria-describedby": "purchases-format" });
  const submit = el("button", { type: "submit" }, "Import purchases");
  const form = el(
    "form",
    { id: "purchases-form" },
    el("div", { class: "field" }, el("label", { for: "purchases-file" }, "Point-of-sale export (CSV file)"), file),
    el(
      "div",
      { class: "hint", id: "purchases-format" },
      el("p", {}, "The first line must be the header ", el("code", {}, HEADER), ", then one purchase per line, for example ", el("code", {}, EXAMPLE), "."),
      el(
        "ul",
        {},
        el("li", {}, "member_id: the member number printed on the member's receipt; every member must be at a site you manage."),
        el("li", {}, "time: ISO 8601 with its UTC offset; items: separated by semicolons; amount: a decimal with up to two places; currency: three letters."),
        el("li", {}, "One bad line refuses the whole file, so a half-imported export never has to be untangled."),
      ),
    ),
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files && file.files[0];
    const status = $("#purchases-status");
    if (!chosen) {
      file.setAttribute("aria-invalid", "true");
      showStatus(status, "error", "Choose the CSV file first.");
      file.focus();
      return;
    }
    file.removeAttribute("aria-invalid");
    const data = new FormData();
    data.append("file", chosen, chosen.name);
    submit.disabled = true;
    showStatus(status, "info", `Importing ${chosen.name}…`);
    let result;
    try {
      result = await api("/purchases", { method: "POST", form: data });
    } catch (error) {
      if (error.status === 401) return;
      file.setAttribute("aria-invalid", "true");
      showStatus(status, "error", `Nothing was imported from ${chosen.name}: ${error.message}`, ["Correct the file and upload it again; no row of it was stored."]);
      focusStatus(status);
      return;
    } finally {
      submit.disabled = false;
    }
    const message = `Imported ${result.rows} purchase${result.rows === 1 ? "" : "s"} for ${result.members} member${result.members === 1 ? "" : "s"} from ${chosen.name}.`;
    showStatus(status, "ok", message);
    status.append(facts([["Purchases imported", String(result.rows)], ["Members matched", String(result.members)]]));
    focusStatus(status);
    announce(message);
    form.reset();
  });
  clear($("#purchases-body")).append(form);
}

function focusStatus(status) {
  status.setAttribute("tabindex", "-1");
  status.focus();
}
