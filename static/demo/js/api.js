// The mini-program's HTTP layer: the same JSON API (/api/v1, {"data": …} or {"error": {code, message}}),
// plus the WeChat sandbox's developer API through the same-origin proxy /demo/sandbox/ (what the phone,
// WeChat and the payer would do). Every call is reported to the listeners (the page's call log).

export class ApiError extends Error {
  constructor(status, code, message, details = {}, requestId = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.requestId = requestId;
  }
}

const listeners = [];
let token = null;
// The language the simulated WeChat user reads: zh-CN (the API's default) unless the page was opened with
// ?lang=en. Sent explicitly, as the mini-program does, so the browser's own language does not decide.
const LANGUAGE = new URLSearchParams(window.location.search).get("lang") === "en" ? "en" : "zh-CN";
let config = { api_base: "/api/v1", sandbox_proxy: null };

export function onCall(listener) { listeners.push(listener); }
export function setToken(value) { token = value; }
export function getToken() { return token; }
export function configure(value) { config = { ...config, ...value }; }

function report(entry) {
  for (const listener of listeners) {
    try { listener(entry); } catch (error) { console.error(error); }
  }
}

async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return { raw: text.slice(0, 300) }; }
}

async function send(who, method, url, init, label) {
  const started = performance.now();
  let response;
  try {
    response = await fetch(url, { method, ...init });
  } catch (error) {
    report({ who, method, path: label, status: 0, ms: Math.round(performance.now() - started) });
    throw new ApiError(0, "network_error", `无法连接服务器 / cannot reach ${label}: ${error.message}`);
  }
  const body = await readBody(response);
  report({ who, method, path: label, status: response.status, ms: Math.round(performance.now() - started) });
  return { response, body };
}

/** Call the backend API; resolves to `data` (null for 204) or throws ApiError with the API's code and message. */
export async function api(method, path, { json, form, auth = true } = {}) {
  const headers = { "Accept-Language": LANGUAGE };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // multipart/form-data, as wx.uploadFile sends it
  }
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  const label = `${config.api_base}${path}`;
  const { response, body: payload } = await send("api", method, label, { headers, body }, label);
  if (!response.ok) {
    const error = payload && payload.error;
    if (error && typeof error === "object") {
      throw new ApiError(response.status, error.code, error.message, error.details, error.request_id);
    }
    throw new ApiError(response.status, "http_error", `HTTP ${response.status}`);
  }
  return payload ? payload.data : null;
}

/** The WeChat sandbox's developer API (/sandbox/api/<path>), through the demo's same-origin proxy. */
export async function sandbox(method, path, json) {
  if (!config.sandbox_proxy) {
    throw new ApiError(0, "sandbox_disabled", "微信沙箱未开启 (WECHAT_SANDBOX is off): this demo needs development mode.");
  }
  const init = json === undefined ? {} : { headers: { "Content-Type": "application/json" }, body: JSON.stringify(json) };
  const { response, body } = await send("sandbox", method, `${config.sandbox_proxy}${path}`, init,
    `/sandbox/api/${path}`);
  if (!response.ok) {
    const error = body && body.error;
    if (error && typeof error === "object") throw new ApiError(response.status, error.code, error.message, error.details);
    throw new ApiError(response.status, "sandbox_error", typeof error === "string" ? error : `HTTP ${response.status}`);
  }
  return body;
}

/**
 * A signed media link (preview, original, export), fetched from this origin: the signature is in the path,
 * so the page works whichever host name it was opened with. Resolves to the unread Response, or throws ApiError.
 */
export async function media(url) {
  const parsed = new URL(url, window.location.href);
  const label = parsed.pathname.replace(/[^/]{24,}$/, "…");
  const started = performance.now();
  let response;
  try {
    response = await fetch(parsed.pathname + parsed.search);
  } catch (error) {
    report({ who: "media", method: "GET", path: label, status: 0, ms: Math.round(performance.now() - started) });
    throw new ApiError(0, "network_error", `无法下载 / cannot download ${label}: ${error.message}`);
  }
  report({ who: "media", method: "GET", path: label, status: response.status,
    ms: Math.round(performance.now() - started) });
  if (!response.ok) {
    const body = await readBody(response);
    const error = body && body.error;
    if (error && typeof error === "object") throw new ApiError(response.status, error.code, error.message, error.details);
    throw new ApiError(response.status, "http_error", `HTTP ${response.status}`);
  }
  return response;
}
