// The login page: POST /api/v1/auth/login, keep the CSRF token for this tab, then go back to
// the page that sent the person here (same origin only).
import { ApiError, login, safeNext } from "./api.js";
import { $, hideStatus, showStatus } from "./ui.js";

const form = $("#login-form");
const status = $("#login-status");
const button = $("#login-button");
const next = safeNext(new URLSearchParams(location.search).get("next"));

$("#tenant").setAttribute("aria-describedby", "tenant-hint");
$("#username").focus();

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  hideStatus(status);
  const tenant = $("#tenant").value.trim();
  const username = $("#username").value.trim();
  const password = $("#password").value;
  if (!username || !password) {
    showStatus(status, "error", "Enter your user name and password.");
    (username ? $("#password") : $("#username")).focus();
    return;
  }
  button.disabled = true;
  try {
    await login(tenant, username, password);
    location.assign(next);
  } catch (error) {
    const message =
      error instanceof ApiError && error.status === 429
        ? `Too many attempts. ${error.message}`
        : error.message || "Login failed.";
    showStatus(status, "error", message);
    $("#password").value = "";
    $("#password").focus();
  } finally {
    button.disabled = false;
  }
});
