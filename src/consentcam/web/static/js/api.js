// The JSON API under /api/v1, as the pages call it: the browser sends the HttpOnly session
// cookie; every unsafe request carries the CSRF token the login returned (kept in this tab's
// sessionStorage, with the readable consentcam_csrf cookie as the fallback after a new tab).
// A 401 sends the person to the login page and back here afterwards.

export const API = "/api/v1";
const CSRF_STORAGE_KEY = "consentcam.csrf";
const CSRF_COOKIE = "consentcam_csrf";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

export function csrfToken() {
  try {
    const stored = sessionStorage.getItem(CSRF_STORAGE_KEY);
    if (stored) return stored;
  } catch (_) {
    // Storage may be disabled; the cookie still works.
  }
  return cookie(CSRF_COOKIE);
}

function rememberCsrf(token) {
  try {
    if (token) sessionStorage.setItem(CSRF_STORAGE_KEY, token);
    else sessionStorage.removeItem(CSRF_STORAGE_KEY);
  } catch (_) {
    // Nothing to do: the cookie keeps the token.
  }
}

/** The login page, with a way back to where the person was. */
export function loginUrl(next = location.pathname + location.search) {
  return "/login?next=" + encodeURIComponent(next);
}

/** A same-origin path to go to after login; anything else becomes the dashboard. */
export function safeNext(value) {
  if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//")) {
    return "/dashboard";
  }
  if (value.includes("\\") || /[\u0000-\u001f]/.test(value)) return "/dashboard";
  return value;
}

/**
 * Call the API: `api("/sites")`, `api("/members", {method: "POST", json: {...}})`,
 * `api(path, {method: "POST", form: formData})`. Resolves to the parsed JSON (null for 204);
 * rejects with ApiError carrying the API's {"error": message}.
 */
export async function api(path, { method = "GET", json, form, redirectOn401 = true } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser sets the multipart boundary
  }
  if (UNSAFE.has(method)) {
    const token = csrfToken();
    if (token) headers["X-CSRF-Token"] = token;
  }
  let response;
  try {
    response = await fetch(API + path, { method, headers, body, credentials: "same-origin" });
  } catch (_) {
    throw new ApiError(0, "The server cannot be reached. Check the connection and try again.");
  }
  if (response.status === 401 && redirectOn401) {
    location.assign(loginUrl());
    throw new ApiError(401, "Please log in.");
  }
  let data = null;
  if (response.status !== 204) {
    const type = response.headers.get("content-type") || "";
    data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  }
  if (!response.ok) {
    const message = data && typeof data === "object" && data.error ? data.error : response.statusText;
    throw new ApiError(response.status, message || `HTTP ${response.status}`, data);
  }
  return data;
}

export async function login(tenant, username, password) {
  const json = { username, password };
  if (tenant) json.tenant = tenant;
  const result = await api("/auth/login", { method: "POST", json, redirectOn401: false });
  rememberCsrf(result.csrf_token);
  return result;
}

export async function logout() {
  try {
    await api("/auth/logout", { method: "POST", redirectOn401: false });
  } finally {
    rememberCsrf(null);
  }
}

/** The caller (user, tenant, role, permissions); a 401 goes to the login page. */
export function me() {
  return api("/auth/me");
}

export function path(strings, ...values) {
  // Tagged template for API paths: every interpolated value is URL-encoded.
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ""), "");
}
