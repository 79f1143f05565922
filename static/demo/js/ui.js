// The page's furniture: step cards (state, badge, errors, facts), the API call log, small formatters.
// Every step of app.js runs through `run`, so an API error always lands on the card that made the call.
import { ApiError } from "./api.js";

export const $ = (id) => document.getElementById(id);
export const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

const BADGES = { locked: "", active: "", working: "进行中", done: "✓ 完成", error: "出错 error", skipped: "跳过" };

export function setStep(id, stepState, badge) {
  const element = $(`step-${id}`);
  element.dataset.state = stepState;
  element.querySelector(".badge").textContent = badge ?? BADGES[stepState];
}

export function unlock(id) {
  const element = $(`step-${id}`);
  if (element.dataset.state === "locked") setStep(id, "active");
  setTimeout(() => element.scrollIntoView({ behavior: "smooth", block: "start" }), 50);
}

export function clearError(id) {
  const box = $(`step-${id}`).querySelector(".error");
  box.hidden = true;
  box.replaceChildren();
}

export function showError(id, error) {
  const box = $(`step-${id}`).querySelector(".error");
  const lines = [];
  if (error instanceof ApiError) {
    const head = document.createElement("div");
    const code = document.createElement("code");
    code.textContent = error.code;
    head.append(code, ` ${error.message}`);
    lines.push(head);
    const extra = [];
    if (error.status) extra.push(`HTTP ${error.status}`);
    if (error.details && error.details.reason) extra.push(`reason: ${error.details.reason}`);
    if (error.details && error.details.retry_after) extra.push(`retry after ${error.details.retry_after}s`);
    if (error.details && Array.isArray(error.details.fields)) {
      extra.push(error.details.fields.map((f) => `${f.field}: ${f.message}`).join("; "));
    }
    if (error.requestId) extra.push(`request ${error.requestId}`);
    if (extra.length) {
      const small = document.createElement("div");
      small.className = "en";
      small.textContent = extra.join(" · ");
      lines.push(small);
    }
  } else {
    console.error(error);
    const div = document.createElement("div");
    div.textContent = `${error.name || "Error"}: ${error.message}`;
    lines.push(div);
  }
  box.replaceChildren(...lines);
  box.hidden = false;
}

/** Fill a <dl> with [label, value] pairs (text only). */
export function facts(id, pairs) {
  const list = $(id);
  list.replaceChildren();
  for (const [label, value] of pairs) {
    if (value === undefined) continue;
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value === null ? "—" : String(value);
    list.append(dt, dd);
  }
}

/** Run one step's action: errors are shown on the step, the button is disabled meanwhile. */
export async function run(id, button, action) {
  clearError(id);
  if (button) button.disabled = true;
  const before = $(`step-${id}`).dataset.state;
  setStep(id, "working");
  try {
    await action();
  } catch (error) {
    showError(id, error);
    setStep(id, "error");
  } finally {
    if (button && !button.dataset.final) button.disabled = false;
    if ($(`step-${id}`).dataset.state === "working") setStep(id, before === "locked" ? "active" : before);
  }
}

export function when(iso) {
  if (!iso) return null;
  return new Date(iso).toLocaleString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" });  // Beijing time, like the app
}

export function yuan(fen) { return `¥${(fen / 100).toFixed(2)}`; }

export function randomDigits(count) {
  const values = crypto.getRandomValues(new Uint8Array(count));
  return Array.from(values, (v) => String(v % 10)).join("");
}

export function randomHex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (v) => v.toString(16).padStart(2, "0")).join("");
}

export function logCall({ who, method, path, status, ms }) {
  const item = document.createElement("li");
  if (!status || status >= 400) item.className = "fail";
  const tag = document.createElement("span");
  tag.className = "who";
  tag.textContent = who === "sandbox" ? "沙箱 " : who === "media" ? "媒体 " : "";
  item.append(tag, `${method} ${path} → ${status || "network error"} (${ms} ms)`);
  $("log").append(item);
  $("log-count").textContent = String($("log").children.length);
}

export function banner(text) {
  const element = $("banner");
  element.textContent = text;
  element.hidden = false;
}
