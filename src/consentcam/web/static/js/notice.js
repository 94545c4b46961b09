// The full notice a sign's QR code opens (/kiosk/notice?site_id=ID): public, no login needed.
// The older form ?site=NAME shows the text where this browser may read it (the kiosk, staff);
// elsewhere it says where to read it, without sending the visitor to a login page.

import { api, path } from "./api.js";
import { $, showStatus } from "./ui.js";

async function start() {
  const params = new URLSearchParams(location.search);
  const siteId = params.get("site_id");
  const site = params.get("site");
  const status = $("#notice-status");
  if (siteId) {
    try {
      show(await api(`${path`/public/sites/${siteId}/notice`}?version=v3`, { redirectOn401: false }));
    } catch (error) {
      showStatus(status, "info", `The notice cannot be shown now (${error.message}). Please ask staff.`);
    }
    return;
  }
  if (!site) {
    showStatus(status, "info", "This page shows a shop's notice: open it from the QR code on the shop's sign.");
    return;
  }
  $("#notice-title").textContent = `Face recognition for members at ${site}`;
  try {
    show(await api(`${path`/sites/${site}/notice`}?version=v3`, { redirectOn401: false }));
  } catch (error) {
    const message =
      error.status === 401 || error.status === 403
        ? "The full notice is shown on the kiosk in the shop, and staff at the service desk will give you a copy."
        : `The notice cannot be shown now (${error.message}). Please ask staff.`;
    showStatus(status, "info", message);
  }
}

function show(notice) {
  $("#notice-title").textContent = `Face recognition for members at ${notice.site}`;
  $("#notice-text").textContent = notice.text;
  $("#notice-version").textContent = notice.version;
  $("#notice-hash").textContent = `${notice.sha256.slice(0, 16)}…`;
  $("#notice").hidden = false;
}

start();
