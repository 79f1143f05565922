// The staff JSON API (/admin/api): {"data": …} on success, {"error": {code, message, details, request_id}} on
// failure. The session is an HttpOnly cookie the page never sees; the CSRF token from the login answer goes back
// as X-CSRF-Token on every unsafe request. A 401 staff_authentication_required (logged out elsewhere, idle or
// too old, revoked after a role change) is announced to the app, which returns to the login screen.

export const API_BASE = "/admin/api";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export class ApiError extends Error {
  constructor(status, code, message, details = {}, requestId = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.requestId = requestId;
  }

  /** The message with what a field-level validation error said, for showing to the staff member. */
  get explanation() {
    const fields = Array.isArray(this.details.fields) ? this.details.fields : [];
    const parts = fields.map((f) => `${f.field}: ${f.message}`);
    return parts.length ? `${this.message} (${parts.join("; ")})` : this.message;
  }
}

let csrfToken = null;
const unauthorizedListeners = [];
const activityListeners = [];

export function setCsrf(token) { csrfToken = token; }
export function onUnauthorized(listener) { unauthorizedListeners.push(listener); }
/** Called after every answered request: the server counts idle time from the last request it saw. */
export function onActivity(listener) { activityListeners.push(listener); }

function queryString(query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "" || value === false) continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

/** Call the API; resolves to `data` (null for 204) or throws ApiError with the server's code and message. */
export async function api(method, path, { query, json } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  if (UNSAFE.has(method) && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(API_BASE + path + queryString(query),
                           { method, headers, body, credentials: "same-origin", cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, "network_error", `无法连接服务器 Cannot reach the server (${error.message})`);
  }
  const payload = await readJson(response);
  for (const listener of activityListeners) listener();
  if (response.ok) return payload ? payload.data : null;
  const error = (payload && payload.error) || {};
  const failure = new ApiError(response.status, error.code || `http_${response.status}`,
                               error.message || response.statusText || "Request failed", error.details,
                               error.request_id || null);
  if (failure.code === "staff_authentication_required") {
    for (const listener of unauthorizedListeners) listener(failure);
  }
  throw failure;
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, json = {}) => api("POST", path, { json });
export const patch = (path, json = {}) => api("PATCH", path, { json });
export const del = (path) => api("DELETE", path);
