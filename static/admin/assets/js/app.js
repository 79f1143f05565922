// The console's shell: login (with the authenticator code when the account has one), the sections the staff
// member's permissions allow, hash routing (#/orders/MH…), the idle timeout, and back to the login screen on any
// 401. Personal data never goes into the URL: searches and reasons stay in the page's memory.

import * as http from "./api.js";
import { append, bi, clear, errorBox, h, setLabels } from "./dom.js";
import renderAccount from "./views/account.js";
import renderAudit from "./views/audit.js";
import renderDashboard from "./views/dashboard.js";
import renderNotices from "./views/notices.js";
import renderOrders from "./views/orders.js";
import renderReview from "./views/review.js";
import renderRights from "./views/rights.js";
import renderStaff from "./views/staff.js";
import renderTickets from "./views/tickets.js";
import renderUsers from "./views/users.js";

const SECTIONS = [
  { id: "dashboard", permission: "dashboard.read", zh: "仪表盘", en: "Dashboard", render: renderDashboard },
  { id: "tickets", permission: "tickets.read", zh: "工单", en: "Tickets", render: renderTickets },
  { id: "orders", permission: "orders.read", zh: "订单退款", en: "Orders", render: renderOrders },
  { id: "rights", permission: "rights.read", zh: "权利请求", en: "Rights", render: renderRights },
  { id: "users", permission: "users.read", zh: "用户查询", en: "Users", render: renderUsers },
  { id: "notices", permission: "notices.send", zh: "用户通知", en: "Notices", render: renderNotices },
  { id: "audit", permission: "audit.read", zh: "审计日志", en: "Audit log", render: renderAudit },
  { id: "staff", permission: "staff.manage", zh: "员工管理", en: "Staff", render: renderStaff },
  { id: "review", permission: "access.review", zh: "权限复核", en: "Access review", render: renderReview },
];
const ACCOUNT = { id: "account", permission: null, render: renderAccount };
const IDLE_MARGIN_MS = 5_000; // log out just after the server stops accepting the session, not before

const state = { session: null, permissions: new Set(), idleTimer: null };
const $ = (id) => document.getElementById(id);

function can(permission) {
  return permission === null || state.permissions.has(permission);
}

export function toast(message, bad = false) {
  const note = h("div", { class: bad ? "toast bad" : "toast", role: "status" }, message);
  $("toasts").append(note);
  setTimeout(() => note.remove(), 4500);
}

// --- login and session ---------------------------------------------------------------------------

function showLogin(notice) {
  state.session = null;
  state.permissions = new Set();
  http.setCsrf(null);
  clearTimeout(state.idleTimer);
  $("boot").hidden = true;
  $("console").hidden = true;
  clear($("view"));
  const dialog = $("dialog");
  if (dialog.open) dialog.close();
  $("login-screen").hidden = false;
  $("login-notice").hidden = !notice;
  $("login-notice").textContent = notice || "";
  $("login-error").hidden = true;
  $("login-password").value = "";
  $("login-totp").value = "";
  $("totp-field").hidden = true;
  ($("login-username").value ? $("login-password") : $("login-username")).focus();
}

async function loadLabels() {
  try {
    setLabels((await http.get("/labels")).groups);
  } catch (error) {
    setLabels({});  // without names the console still works: it shows the ids
  }
}

async function enterConsole(session) {
  state.session = session;
  state.permissions = new Set(session.staff.permissions);
  http.setCsrf(session.csrf_token);
  $("boot").hidden = true;
  $("login-screen").hidden = true;
  $("console").hidden = false;
  $("whoami-name").textContent = session.staff.username;
  clear($("whoami-roles"));
  append($("whoami-roles"), session.staff.roles.map((role) => h("span", { class: "chip" }, role)));
  buildNav();
  armIdleTimer();
  await loadLabels();
  route();
}

async function submitLogin(event) {
  event.preventDefault();
  const button = $("login-submit");
  const payload = { username: $("login-username").value.trim(), password: $("login-password").value };
  if (!$("totp-field").hidden && $("login-totp").value.trim()) payload.totp = $("login-totp").value.trim();
  $("login-error").hidden = true;
  button.disabled = true;
  try {
    const session = await http.post("/session", payload);
    $("login-password").value = "";
    $("login-totp").value = "";
    enterConsole(session);
  } catch (error) {
    if (error.code === "totp_required" || error.code === "invalid_totp") {
      $("totp-field").hidden = false;
      $("login-totp").value = "";
      $("login-totp").focus();
    }
    clear($("login-error")).append(errorBox(error));
    $("login-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function logout(notice = "已退出登录。 Logged out.") {
  const wasIn = state.session !== null;
  state.session = null; // a 401 from the logout itself must not show a second notice
  if (wasIn) {
    try { await http.del("/session"); } catch { /* already gone on the server: nothing left to end */ }
  }
  showLogin(notice);
}

function armIdleTimer() {
  clearTimeout(state.idleTimer);
  if (!state.session) return;
  const idleMs = state.session.idle_timeout_s * 1000 + IDLE_MARGIN_MS;
  state.idleTimer = setTimeout(() => {
    const minutes = Math.round(state.session.idle_timeout_s / 60);
    logout(`闲置超过 ${minutes} 分钟，已自动退出。 Logged out after ${minutes} min without activity.`);
  }, idleMs);
}

const SESSION_END = {
  idle: "闲置超时 idle timeout", expired: "会话已到期 session too old", revoked: "会话已被撤销 session revoked",
  disabled: "账户已停用 account disabled",
};

http.onActivity(() => { if (state.session) armIdleTimer(); });
http.onUnauthorized((error) => {
  if (!state.session) return;
  const why = SESSION_END[error.details.reason] || error.details.reason;
  showLogin(`会话已结束${why ? `（${why}）` : ""}，请重新登录。 Your session ended; log in again.`);
});

// --- navigation -------------------------------------------------------------------------------------

function buildNav() {
  const nav = clear($("nav"));
  for (const section of SECTIONS.filter((s) => can(s.permission))) {
    nav.append(h("a", { href: `#/${section.id}`, "data-section": section.id }, section.zh,
                 h("span", { class: "en" }, section.en)));
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [section = "", ...rest] = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { section, id: rest[0] || null, params: new URLSearchParams(query) };
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function firstAllowed() {
  return SECTIONS.find((s) => can(s.permission)) || ACCOUNT;
}

async function route() {
  if (!state.session) return;
  const { section: wanted, id, params } = parseHash();
  const section = wanted === "account" ? ACCOUNT : SECTIONS.find((s) => s.id === wanted && can(s.permission));
  if (!section) {
    history.replaceState(null, "", `#/${firstAllowed().id}`);
    return route();
  }
  for (const link of $("nav").querySelectorAll("a")) {
    link.classList.toggle("active", link.dataset.section === section.id);
  }
  const page = h("div", { class: "page", "data-page": section.id, "data-id": id, "data-loaded": "false" });
  clear($("view")).append(page);
  const ctx = {
    id, params, can, navigate, toast, staff: state.session.staff,
    refresh: () => route(),
    refreshSession: async () => { enterSessionData(await http.get("/session")); },
  };
  try {
    await section.render(page, ctx);
  } catch (error) {
    if (error.code !== "staff_authentication_required") append(page, [errorBox(error)]);
  } finally {
    page.dataset.loaded = "true";
  }
}

function enterSessionData(session) {
  state.session = session;
  state.permissions = new Set(session.staff.permissions);
  http.setCsrf(session.csrf_token);
}

// --- start --------------------------------------------------------------------------------------------

async function boot() {
  $("login-form").addEventListener("submit", submitLogin);
  $("logout").addEventListener("click", () => logout());
  window.addEventListener("hashchange", route);
  try {
    enterConsole(await http.get("/session"));
  } catch (error) {
    showLogin(error.code === "staff_authentication_required" ? null : `${error.code}: ${error.message}`);
  }
}

boot();
